-- Readers: bookmarks, server topics, personal subscriptions, and the daily DMs that deliver
-- matches and bookmark updates (each paper at most once per user).

CREATE TABLE bookmarks (
    user_id    INTEGER NOT NULL,
    paper_id   INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    source     TEXT NOT NULL,       -- reaction | button | search | command
    guild_id   INTEGER,
    PRIMARY KEY (user_id, paper_id)
) WITHOUT ROWID;
CREATE INDEX bookmarks_by_user_time ON bookmarks (user_id, created_at DESC);
CREATE INDEX bookmarks_by_paper ON bookmarks (paper_id);

CREATE TABLE topics (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    query      TEXT NOT NULL,       -- /search syntax
    created_by INTEGER,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX topics_by_guild_name ON topics (guild_id, name COLLATE NOCASE);

CREATE TABLE subscriptions (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    kind       TEXT NOT NULL,       -- query | category | author | topic
    value      TEXT NOT NULL,       -- query text, category code, author name, or topic name
    topic_id   INTEGER REFERENCES topics (id) ON DELETE CASCADE,
    guild_id   INTEGER,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX subscriptions_unique ON subscriptions (user_id, kind, value COLLATE NOCASE,
                                                           COALESCE(topic_id, 0));
CREATE INDEX subscriptions_by_topic ON subscriptions (topic_id);

-- Papers waiting for a user's next daily DM, and why. One row per (user, paper, reason).
CREATE TABLE dm_queue (
    user_id         INTEGER NOT NULL,
    paper_id        INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    reason          TEXT NOT NULL,  -- match | update
    update_id       INTEGER NOT NULL DEFAULT 0,   -- paper_updates.id for an update
    subscription_id INTEGER,
    queued_at       TEXT NOT NULL,
    PRIMARY KEY (user_id, paper_id, reason, update_id)
) WITHOUT ROWID;

-- What each user has been sent: a paper is never sent twice as a match, an update never twice.
CREATE TABLE dm_sent (
    user_id   INTEGER NOT NULL,
    paper_id  INTEGER NOT NULL,
    reason    TEXT NOT NULL,
    update_id INTEGER NOT NULL DEFAULT 0,
    sent_on   TEXT NOT NULL,        -- UTC date of the DM
    PRIMARY KEY (user_id, paper_id, reason, update_id)
) WITHOUT ROWID;

CREATE TABLE dm_users (
    user_id          INTEGER PRIMARY KEY,
    last_dm_on       TEXT,          -- UTC date of the last daily DM
    dms_closed_at    TEXT,          -- Discord said the user does not accept DMs (50007)
    told_closed      INTEGER NOT NULL DEFAULT 0,
    unlisted_matches INTEGER NOT NULL DEFAULT 0  -- matched beyond what a DM lists: counted only
);

-- How far the matcher has read paper_updates, so each update is queued once.
CREATE TABLE reader_state (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
