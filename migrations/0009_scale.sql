-- caiji archive schema, version 9: a cheap write path, and many workers on one archive
-- (docs/schema.md, "Write path and search index", "Workers").

-- 1. Texts stored once. `paragraphs` is kept only when it cannot be recovered from the text
--    (a paragraph that itself holds a blank line, or an empty paragraph); otherwise NULL and
--    the views split the text on blank lines, which gives the same array.
ALTER TABLE texts DISABLE TRIGGER texts_immutable;
ALTER TABLE texts DROP CONSTRAINT texts_paragraphs_array,
    ALTER COLUMN paragraphs DROP NOT NULL;
UPDATE texts SET paragraphs = NULL
WHERE paragraphs = to_jsonb(string_to_array(text, E'\n\n'));
ALTER TABLE texts ENABLE TRIGGER texts_immutable;
ALTER TABLE texts ADD CONSTRAINT texts_paragraphs_array
    CHECK (paragraphs IS NULL OR jsonb_typeof(paragraphs) = 'array');

-- The paragraphs of a text row, stored or derived.
CREATE FUNCTION caiji_paragraphs(stored jsonb, text text) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT coalesce(stored, to_jsonb(string_to_array(text, E'\n\n'))) $$;

CREATE OR REPLACE VIEW extractions AS
SELECT r.id, r.capture_id, r.extractor, r.extractor_version, r.config_hash, r.crawl_run_id, r.caiji_version,
       r.git_commit, r.title, r.published_at, r.published_ts, r.author,
       caiji_paragraphs(t.paragraphs, t.text) AS paragraphs, t.text, r.metadata, r.flags,
       r.extracted_at, r.text_sha256
FROM extraction_records r
JOIN texts t ON t.sha256 = r.text_sha256;

CREATE OR REPLACE VIEW documents AS
SELECT
    c.site,
    c.canonical_url     AS url,
    c.final_url,
    r.title,
    r.published_at,
    r.author,
    t.text,
    caiji_paragraphs(t.paragraphs, t.text) AS paragraphs,
    r.metadata,
    r.flags,
    r.extractor,
    r.extractor_version,
    r.extracted_at,
    c.fetched_at,
    c.id                AS capture_id,
    r.id                AS extraction_id,
    r.published_ts,
    r.text_sha256,
    (SELECT max(s.fetched_at) FROM captures s
     WHERE s.canonical_url = c.canonical_url AND (s.id = c.id OR s.revisit_of = c.id)) AS last_seen_at,
    (SELECT f.gone_since FROM frontier f WHERE f.canonical_url = c.canonical_url) AS gone_since
FROM captures c
JOIN extraction_records r ON r.capture_id = c.id
JOIN texts t ON t.sha256 = r.text_sha256
WHERE c.outcome = 'ok'
  AND c.revisit_of IS NULL
  AND NOT EXISTS (SELECT 1 FROM captures newer
                  WHERE newer.canonical_url = c.canonical_url AND newer.outcome = 'ok' AND newer.revisit_of IS NULL
                    AND (newer.fetched_at, newer.id) > (c.fetched_at, c.id))
  AND NOT EXISTS (SELECT 1 FROM extraction_records newer
                  WHERE newer.capture_id = c.id AND (newer.extracted_at, newer.id) > (r.extracted_at, r.id));

-- 2. Search indexing out of the fetch path. A crawl writes a text with `words` NULL; the run
--    indexes its new texts in batches when it ends (and `caiji index` does any left over by a
--    killed run). Until then the text is in `documents` but not found by a word search.
--    `words` holds lexemes without positions (strip()): a third of the size; phrase operators
--    (<->) and position-weighted ranking are given up (confirm a phrase with `text LIKE`).
--    The trigram index on whole texts is gone: it was the archive's largest object (about 25 KB
--    per text) and its row-by-row upkeep the crawl's largest cost. Substring search scans
--    `texts`; docs/schema.md shows how to build the index on demand.
ALTER TABLE texts ALTER COLUMN words DROP NOT NULL;
DROP INDEX IF EXISTS texts_text_trgm_idx;
CREATE INDEX texts_unindexed_idx ON texts (sha256) WHERE words IS NULL;

-- 3. Many workers on one archive. A frontier row's host (`scheme://host[:port]/`, computed by
--    PostgreSQL from the URL) is what politeness and claims are keyed on; a claim is a lease:
--    the claiming run and until when; an `in_progress` row whose lease ran out, or whose run
--    is dead, is claimable again.
ALTER TABLE frontier
    ADD COLUMN host text GENERATED ALWAYS AS (substring(canonical_url FROM '^[a-z][a-z0-9+.-]*://[^/?#]*')) STORED,
    ADD COLUMN lease_until timestamptz;
CREATE INDEX frontier_pending_host_idx ON frontier (site, host, seq) WHERE state = 'pending';
CREATE INDEX frontier_in_progress_idx ON frontier (site, lease_until) WHERE state = 'in_progress';

-- Each host's next allowed request, shared by every worker: a worker books a turn (the later
-- of now and the host's next_fetch_at) and moves next_fetch_at one interval past it, in one
-- statement, so two workers never send to one host closer than its interval.
CREATE TABLE host_turns (
    host           text        PRIMARY KEY,  -- scheme://host[:port]
    next_fetch_at  timestamptz NOT NULL,     -- the earliest moment the next request may be sent
    interval_ms    integer     NOT NULL,     -- the interval the last booking used (config, Crawl-delay)
    requests       bigint      NOT NULL DEFAULT 0,
    held           boolean     NOT NULL DEFAULT false, -- a request is out (until next_fetch_at at most)
    updated_at     timestamptz NOT NULL DEFAULT now()
);
