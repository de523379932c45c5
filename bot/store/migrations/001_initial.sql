-- Papers, feeds and what each feed announced. One row per paper identity
-- (an arXiv id without version, or rss:<hash> for other items).

CREATE TABLE papers (
    id               INTEGER PRIMARY KEY,
    key              TEXT NOT NULL UNIQUE,
    arxiv_id         TEXT,
    version          INTEGER,
    title            TEXT NOT NULL,
    authors          TEXT NOT NULL DEFAULT '[]',   -- JSON array; FTS indexes this text as is
    abstract         TEXT NOT NULL DEFAULT '',
    categories       TEXT NOT NULL DEFAULT '[]',   -- JSON array, primary first
    primary_category TEXT,
    core_source      TEXT NOT NULL,                -- feed kind that supplied title/abstract
    announced        TEXT,                         -- date first announced (new/cross), else best known date
    submitted        TEXT,                         -- datetime of v1
    updated          TEXT,                         -- datetime of the stored version
    abs_url          TEXT,
    pdf_url          TEXT,
    hf_url           TEXT,
    code_url         TEXT,
    project_url      TEXT,
    doi              TEXT,
    journal_ref      TEXT,
    comment          TEXT,
    hf_upvotes       INTEGER,
    hf_ai_summary    TEXT,
    hf_ai_keywords   TEXT NOT NULL DEFAULT '[]',
    github_repo      TEXT,
    github_stars     INTEGER,
    hf_comments      INTEGER,
    hf_date          TEXT,
    first_seen       TEXT NOT NULL,
    last_changed     TEXT NOT NULL
);
CREATE INDEX papers_by_announced ON papers (announced DESC, id DESC);
CREATE INDEX papers_with_code ON papers (announced DESC) WHERE code_url IS NOT NULL;
CREATE INDEX papers_by_hf_date ON papers (hf_date) WHERE hf_date IS NOT NULL;
CREATE INDEX papers_by_first_seen ON papers (first_seen);

-- Category membership, for indexed category filters (primary first in papers.categories).
CREATE TABLE paper_categories (
    category   TEXT NOT NULL,
    paper_id   INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    is_primary INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (category, paper_id)
) WITHOUT ROWID;
CREATE INDEX paper_categories_by_paper ON paper_categories (paper_id);

-- Full-text index over the papers table (external content). The application
-- writes its rows in the same transaction as the paper: faster than triggers.
CREATE VIRTUAL TABLE papers_fts USING fts5 (
    title, authors, abstract,
    content = 'papers', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TABLE feeds (
    id                   INTEGER PRIMARY KEY,
    url                  TEXT NOT NULL UNIQUE,
    kind                 TEXT,            -- configured or detected parser
    name                 TEXT,
    origin               TEXT NOT NULL DEFAULT 'config',  -- config | digest | admin
    enabled              INTEGER NOT NULL DEFAULT 1,
    etag                 TEXT,
    last_modified        TEXT,
    fresh_until          TEXT,            -- Cache-Control max-age: no request before this
    next_attempt_at      TEXT,            -- backoff or Retry-After: no request before this
    last_attempt_at      TEXT,
    last_success_at      TEXT,
    last_error           TEXT,
    last_error_at        TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing              INTEGER NOT NULL DEFAULT 0,
    last_fingerprint     TEXT,            -- item set of the last batch, to spot stale batches
    last_feed_date       TEXT,
    created_at           TEXT NOT NULL
);

-- One row per poll of a feed: what it brought.
CREATE TABLE feed_batches (
    id             INTEGER PRIMARY KEY,
    feed_id        INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    fetched_at     TEXT NOT NULL,
    outcome        TEXT NOT NULL,   -- new | stale | empty | not-modified | failed
    feed_date      TEXT,
    items          INTEGER NOT NULL DEFAULT 0,
    new_papers     INTEGER NOT NULL DEFAULT 0,
    updated_papers INTEGER NOT NULL DEFAULT 0,
    fingerprint    TEXT,
    error          TEXT
);
CREATE INDEX feed_batches_by_feed ON feed_batches (feed_id, id DESC);

-- Which feed announced which paper, when and how. The id only grows, so
-- digests keep a cursor over it instead of a time window.
CREATE TABLE sightings (
    id            INTEGER PRIMARY KEY,
    paper_id      INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    feed_id       INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    batch_id      INTEGER NOT NULL REFERENCES feed_batches (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,   -- order in the listing
    announce_type TEXT,               -- new | cross | replace | replace-cross | NULL
    announced     TEXT NOT NULL,      -- the listing's date
    version       INTEGER,
    seen_at       TEXT NOT NULL,
    UNIQUE (feed_id, paper_id, announced, announce_type)
);
CREATE INDEX sightings_by_batch ON sightings (batch_id, position);
CREATE INDEX sightings_by_paper ON sightings (paper_id);
CREATE INDEX sightings_by_announced ON sightings (announced, announce_type);

-- Changes worth telling bookmarkers about: a new version, a DOI, a journal reference.
CREATE TABLE paper_updates (
    id        INTEGER PRIMARY KEY,
    paper_id  INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,    -- version | doi | journal_ref
    old_value TEXT,
    new_value TEXT,
    at        TEXT NOT NULL
);
CREATE INDEX paper_updates_by_paper ON paper_updates (paper_id);
