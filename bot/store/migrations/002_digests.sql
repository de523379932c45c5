-- Scheduled digests per channel, their daily runs, and every message the bot posted that
-- matters later (reactions on paper messages must map back to a paper after a restart).

CREATE TABLE digests (
    id                   INTEGER PRIMARY KEY,
    guild_id             INTEGER NOT NULL,
    channel_id           INTEGER NOT NULL,
    categories           TEXT NOT NULL,              -- JSON array of arXiv categories
    post_time            TEXT NOT NULL,              -- HH:MM (or HH:MM:SS) local time
    timezone             TEXT NOT NULL,              -- IANA name
    max_papers           INTEGER NOT NULL DEFAULT 10,
    include_hf           INTEGER NOT NULL DEFAULT 0,
    filter_query         TEXT,                       -- /search syntax; papers must match it
    cross_lists          INTEGER NOT NULL DEFAULT 1,
    empty_days           TEXT NOT NULL DEFAULT 'auto', -- auto | never | always: the line on empty days
    cursor               INTEGER,                    -- last sightings.id covered by a finished run
    paused               INTEGER NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error           TEXT,
    last_error_at        TEXT,
    created_by           INTEGER,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX digests_by_guild ON digests (guild_id);
CREATE INDEX digests_by_channel ON digests (channel_id);

-- One row per digest per local day: the row is the claim that makes a day's digest happen once.
CREATE TABLE digest_runs (
    id          INTEGER PRIMARY KEY,
    digest_id   INTEGER NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    run_date    TEXT NOT NULL,       -- the digest's local date
    status      TEXT NOT NULL,       -- posting | done | empty | failed
    trigger     TEXT NOT NULL,       -- schedule | catch-up | now
    cursor_to   INTEGER,             -- sightings.id this run covers up to
    plan        TEXT,                -- JSON: every message to post, in order, fixed at claim time
    thread_id   INTEGER,
    error       TEXT,
    created_at  TEXT NOT NULL,
    finished_at TEXT,
    UNIQUE (digest_id, run_date)
);
CREATE INDEX digest_runs_by_status ON digest_runs (status);

CREATE TABLE posted_messages (
    message_id INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL,     -- the channel or thread it is in
    guild_id   INTEGER,
    kind       TEXT NOT NULL,        -- overview | paper | topic | more | notice | card | dm
    paper_id   INTEGER REFERENCES papers (id) ON DELETE SET NULL,
    topic_id   INTEGER,
    run_id     INTEGER REFERENCES digest_runs (id) ON DELETE CASCADE,
    seq        INTEGER,              -- position in the run's plan
    reacted    INTEGER NOT NULL DEFAULT 0,  -- the bot's own reaction is on it
    posted_at  TEXT NOT NULL,
    UNIQUE (run_id, seq)
);
CREATE INDEX posted_messages_by_paper ON posted_messages (paper_id);
