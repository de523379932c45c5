-- PostgreSQL twin of ../migrations/004_data_fixes.sql.
-- Issue 8, data: a paper is announced once per feed; announcement dates that do not
-- depend on which source was polled first; bioRxiv DOIs.

-- 1. A re-served Hugging Face day left a second sighting of every paper: the sightings
--    had no announce type, and UNIQUE treats NULLs as distinct. Keep each feed's first
--    announcement of a paper (new, cross or untyped), drop the repeats, and let an
--    index that sees NULL as a value refuse them from now on. Replacements stay one
--    per listing day (the table's own UNIQUE covers them: their type is never NULL).
DELETE FROM sightings
WHERE (announce_type IS NULL OR announce_type IN ('new', 'cross'))
  AND id NOT IN (
    SELECT MIN(id) FROM sightings
    WHERE announce_type IS NULL OR announce_type IN ('new', 'cross')
    GROUP BY feed_id, paper_id, COALESCE(announce_type, '')
  );
CREATE UNIQUE INDEX sightings_one_announcement
    ON sightings (feed_id, paper_id, COALESCE(announce_type, ''))
    WHERE announce_type IS NULL OR announce_type IN ('new', 'cross');

-- 2. `announced` = the earliest arXiv announcement (new or cross listing) if there is
--    one, else the earliest date any other source gave. Both minima are kept, so the
--    result is the same whatever order the sources arrive in.
ALTER TABLE papers ADD COLUMN arxiv_announced TEXT;
ALTER TABLE papers ADD COLUMN other_announced TEXT;
UPDATE papers SET arxiv_announced = (
    SELECT MIN(s.announced) FROM sightings s
    WHERE s.paper_id = papers.id AND s.announce_type IN ('new', 'cross')
);
UPDATE papers SET other_announced = announced;
UPDATE papers SET announced = COALESCE(arxiv_announced, other_announced);

