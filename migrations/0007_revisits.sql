-- caiji archive schema, version 7: revisits (docs/schema.md, "Revisits and page history").
-- A page is captured again when its site's revisit policy says it is due; what the second
-- capture found is recorded on the capture itself (revisit_of), the schedule on the frontier.

-- A revisit that found the page unchanged names the capture whose body it confirms: a 304 to a
-- conditional GET (outcome not_modified, no body), or a 200 whose body is byte-identical to the
-- URL's previous body (outcome ok, the same body_sha256, no new extraction).
ALTER TABLE captures
    DROP CONSTRAINT captures_outcome_known,
    ADD CONSTRAINT captures_outcome_known CHECK (outcome IN
        ('ok', 'http_status', 'too_large', 'timeout', 'redirect_loop', 'too_many_redirects', 'network_error',
         'redirect_off_site', 'address_refused', 'unsupported_encoding', 'not_modified')),
    ADD COLUMN revisit_of bigint REFERENCES captures(id),
    ADD CONSTRAINT captures_not_modified_names_its_capture CHECK (outcome <> 'not_modified' OR revisit_of IS NOT NULL);
CREATE INDEX captures_revisit_of_idx ON captures (revisit_of) WHERE revisit_of IS NOT NULL;

ALTER TABLE frontier
    ADD COLUMN revisit boolean NOT NULL DEFAULT false,  -- queued again to see whether it changed (claimed after new pages)
    ADD COLUMN next_visit_at timestamptz,               -- when the site's revisit policy wants it again (null: never)
    ADD COLUMN revisit_interval_secs bigint,            -- the adaptive interval next_visit_at was computed with
    ADD COLUMN last_visit_at timestamptz,               -- when it was last captured with a 2xx or 304 (the run's clock)
    ADD COLUMN changed_at timestamptz,                  -- when a capture last found new content (the first capture included)
    ADD COLUMN gone_since timestamptz;                  -- when it first answered 4xx after being live; null while live

-- The newest extraction of the newest capture with content per canonical URL (revisits that
-- found the page unchanged confirm it; they do not replace it), with when it was last seen live
-- and since when the page is gone. Columns of version 3 unchanged, two added at the end.
CREATE OR REPLACE VIEW documents AS
SELECT
    c.site,
    c.canonical_url     AS url,
    c.final_url,
    r.title,
    r.published_at,
    r.author,
    t.text,
    t.paragraphs,
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

-- Every distinct text a URL has had, with the first and last time a capture showed it (a
-- revisit that found the page unchanged shows the text of the capture it confirms). A text
-- that came back (A, B, A) is one row whose dates span the other.
CREATE VIEW document_versions AS
SELECT v.site, v.url, v.text_sha256, v.first_seen_at, v.last_seen_at, v.captures, v.first_capture_id,
       v.last_capture_id, v.title, t.text
FROM (
    SELECT s.site, s.url, x.text_sha256,
           min(s.fetched_at) AS first_seen_at,
           max(s.fetched_at) AS last_seen_at,
           count(*)          AS captures,
           min(s.id)         AS first_capture_id,
           max(s.id)         AS last_capture_id,
           (array_agg(x.title ORDER BY s.fetched_at DESC, s.id DESC))[1] AS title
    FROM (SELECT c.id, c.site, c.canonical_url AS url, c.fetched_at, coalesce(c.revisit_of, c.id) AS content_id
          FROM captures c
          WHERE c.outcome = 'ok' OR (c.outcome = 'not_modified' AND c.revisit_of IS NOT NULL)) s
    CROSS JOIN LATERAL (SELECT e.text_sha256, e.title FROM extraction_records e
                        WHERE e.capture_id = s.content_id
                        ORDER BY e.extracted_at DESC, e.id DESC LIMIT 1) x
    GROUP BY s.site, s.url, x.text_sha256
) v
JOIN texts t ON t.sha256 = v.text_sha256;
