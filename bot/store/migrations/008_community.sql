-- Community: server feeds added from Discord (/feed), their live posts, weekly recaps
-- (a digest with a weekly cadence), each reader's DM hour, and Hugging Face thumbnails.

-- A channel following a feed. The feed itself is a row of `feeds` (origin 'admin'), shared
-- when several servers follow one URL, so it is fetched once per poll.
CREATE TABLE server_feeds (
    id               INTEGER PRIMARY KEY,
    guild_id         INTEGER NOT NULL,
    channel_id       INTEGER NOT NULL,
    feed_id          INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    mode             TEXT NOT NULL,        -- live | digest
    filter_query     TEXT,                 -- /search syntax; items must match it
    cursor           INTEGER NOT NULL DEFAULT 0,  -- last sightings.id handled (items before: backlog)
    disabled_at      TEXT,                 -- stopped after repeated failures
    disabled_reason  TEXT,
    told_disabled    INTEGER NOT NULL DEFAULT 0,  -- the channel has been told, once
    created_by       INTEGER,
    created_at       TEXT NOT NULL,
    UNIQUE (guild_id, channel_id, feed_id)
);
CREATE INDEX server_feeds_by_feed ON server_feeds (feed_id);
CREATE INDEX server_feeds_by_guild ON server_feeds (guild_id);

-- One message per poll of a live feed. The row is the claim: it is written with the cursor
-- move in one transaction, so a batch is posted once, and a restart finishes it.
CREATE TABLE live_posts (
    id             INTEGER PRIMARY KEY,
    server_feed_id INTEGER NOT NULL REFERENCES server_feeds (id) ON DELETE CASCADE,
    channel_id     INTEGER NOT NULL,
    paper_ids      TEXT NOT NULL,          -- JSON array, listing order: the message and its pages
    status         TEXT NOT NULL,          -- posting | done | failed
    message_id     INTEGER,
    error          TEXT,
    created_at     TEXT NOT NULL
);
CREATE INDEX live_posts_by_status ON live_posts (status);

-- Weekly recaps are digests with a weekly cadence, so they share the claim, plan and
-- record machinery that makes a digest exactly once.
ALTER TABLE digests ADD COLUMN cadence TEXT NOT NULL DEFAULT 'daily';   -- daily | weekly
ALTER TABLE digests ADD COLUMN weekday INTEGER;                          -- 0 = Monday (weekly)

-- Each reader's DM time: an hour in their time zone, or off. No row: the operator's default.
CREATE TABLE dm_settings (
    user_id  INTEGER PRIMARY KEY,
    hour     INTEGER,                      -- 0-23 local; NULL: right after ingestion
    timezone TEXT NOT NULL DEFAULT 'UTC',
    off      INTEGER NOT NULL DEFAULT 0
);

ALTER TABLE papers ADD COLUMN hf_thumbnail TEXT;
