-- Search moves to a derived index (bot/search/): the store stays the source of truth and
-- records every change to what search reads as a numbered row. Each process's index keeps
-- a watermark (the last seq it holds) and catches up from here: at start, after its own
-- writes, and every minute for writes made by other processes.

DROP TABLE IF EXISTS papers_fts;

CREATE TABLE paper_changes (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so a watermark only moves forward
    paper_id INTEGER NOT NULL                    -- the paper to re-read (or drop, if it is gone)
);

-- Every existing paper is a change the first catch-up applies (it builds the index).
INSERT INTO paper_changes (paper_id) SELECT id FROM papers ORDER BY id;

CREATE TRIGGER papers_change_insert AFTER INSERT ON papers BEGIN
    INSERT INTO paper_changes (paper_id) VALUES (NEW.id);
END;
CREATE TRIGGER papers_change_update
AFTER UPDATE OF title, authors, abstract, categories, announced, code_url ON papers BEGIN
    INSERT INTO paper_changes (paper_id) VALUES (NEW.id);
END;
CREATE TRIGGER papers_change_delete AFTER DELETE ON papers BEGIN
    INSERT INTO paper_changes (paper_id) VALUES (OLD.id);
END;
