-- Search by meaning: one vector per paper per embedding model, computed once and kept.
-- `id` only grows (a re-embedded paper gets a new row), so a vector index beside the database
-- catches up from the highest id it has seen (its watermark), like the search index.
CREATE TABLE paper_vectors (
    id           INTEGER PRIMARY KEY,
    paper_id     INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    model        TEXT NOT NULL,            -- the model id (name, weights hash, format, token limit)
    vector       BLOB NOT NULL,            -- float32 little-endian, unit length
    text_hash    TEXT NOT NULL,            -- of the embedded title + abstract
    paper_changed TEXT NOT NULL,           -- papers.last_changed when embedded
    UNIQUE (model, paper_id)
);
CREATE INDEX paper_vectors_by_paper ON paper_vectors (paper_id);

-- Readers who want a "for you" section in their daily DM (/recommend daily:on).
CREATE TABLE reader_preferences (
    user_id          INTEGER PRIMARY KEY,
    dm_recommendations INTEGER NOT NULL DEFAULT 0,
    updated_at       TEXT NOT NULL
);
