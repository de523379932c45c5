-- Issue 10: several paperbot processes on one database. Each writes a heartbeat row, so
-- /status shows every process, its shards, which one polls the feeds, and when it was last
-- heard from. (One process per SQLite file: there it is a single row.)

CREATE TABLE processes (
    id             TEXT PRIMARY KEY,      -- host:pid:random, new at each start
    host           TEXT NOT NULL,
    pid            INTEGER NOT NULL,
    shard_count    INTEGER,               -- NULL: not sharded (this process serves every guild)
    shard_ids      TEXT,                  -- JSON array of the shards it runs; NULL: all
    polling        INTEGER NOT NULL DEFAULT 0,  -- holds the poller lock (polls the feeds)
    started_at     TEXT NOT NULL,
    last_heartbeat TEXT NOT NULL
);
CREATE INDEX processes_by_heartbeat ON processes (last_heartbeat);
