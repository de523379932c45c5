-- Daily DMs sent at most once: each (user, day) DM is claimed before it is sent, with exactly
-- what it says and carries, so a lost answer or a crash is resolved by looking for the message
-- (and re-sending the same one with the same nonce), never by composing a second DM.
CREATE TABLE dm_deliveries (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    day        TEXT NOT NULL,              -- UTC date of the DM (at most one per user and day)
    status     TEXT NOT NULL DEFAULT 'sending',   -- sending | sent
    payload    TEXT NOT NULL,              -- JSON: the embeds and buttons, re-sent unchanged (until sent)
    items      TEXT NOT NULL,              -- JSON: [[paper_id, reason, update_id], ...] it tells (until sent)
    unlisted   INTEGER NOT NULL DEFAULT 0, -- matches it counts without listing
    attempts   INTEGER NOT NULL DEFAULT 0, -- sends tried: after one, look before sending again
    message_id INTEGER,
    created_at TEXT NOT NULL,
    sent_at    TEXT,
    UNIQUE (user_id, day)
);
CREATE INDEX dm_deliveries_open ON dm_deliveries (user_id) WHERE status = 'sending';

-- How far the matcher has read `papers` (ids only grow): papers above it were ingested but not
-- yet matched against subscriptions (a crash between the two), and are matched at the next start.
INSERT INTO reader_state (name, value)
    SELECT 'matched_papers', COALESCE(MAX(id), 0) FROM papers WHERE true
    ON CONFLICT (name) DO NOTHING;
