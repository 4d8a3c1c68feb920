-- caiji archive schema, version 3: every distinct extracted text is stored once.
--
-- Until now each extraction row carried its own `text` and `paragraphs` (a copy per version,
-- TOASTed), so a forced re-extraction rewrote every text and re-extraction speed was bound by
-- Postgres writes. Texts now live in `texts`, content-addressed by sha256 like `bodies`; an
-- extraction row points at its text. The public names keep working: `extractions` becomes a
-- view over `extraction_records` + `texts` with the same columns, and `search_texts` a view over
-- `texts`.

DROP VIEW provenance;
DROP VIEW extraction_versions;
DROP VIEW documents;

-- Texts: the former search_texts, plus the paragraphs the text was joined from.
ALTER TABLE search_texts RENAME TO texts;
ALTER INDEX search_texts_pkey RENAME TO texts_pkey;
ALTER INDEX search_texts_words_idx RENAME TO texts_words_idx;
ALTER INDEX search_texts_text_trgm_idx RENAME TO texts_text_trgm_idx;
ALTER TABLE texts ADD COLUMN paragraphs jsonb;

-- Extractions written before search_texts had every text (none expected): give them a key and
-- a row; their words are the text split on spaces only, as no segmenter runs in SQL.
UPDATE extractions SET text_sha256 = sha256(convert_to(text, 'UTF8')) WHERE text_sha256 IS NULL;
INSERT INTO texts (sha256, text, words)
SELECT DISTINCT ON (text_sha256) text_sha256, text, to_tsvector('simple', text)
FROM extractions e
WHERE NOT EXISTS (SELECT 1 FROM texts t WHERE t.sha256 = e.text_sha256)
ORDER BY text_sha256, id;

UPDATE texts t SET paragraphs = e.paragraphs
FROM (SELECT DISTINCT ON (text_sha256) text_sha256, paragraphs FROM extractions ORDER BY text_sha256, id) e
WHERE e.text_sha256 = t.sha256;
UPDATE texts SET paragraphs = to_jsonb(string_to_array(text, E'\n\n')) WHERE paragraphs IS NULL;
ALTER TABLE texts
    ALTER COLUMN paragraphs SET NOT NULL,
    ADD CONSTRAINT texts_paragraphs_array CHECK (jsonb_typeof(paragraphs) = 'array');

-- Extraction rows: everything but the text itself.
ALTER TABLE extractions RENAME TO extraction_records;
ALTER SEQUENCE extractions_id_seq RENAME TO extraction_records_id_seq;
ALTER INDEX extractions_pkey RENAME TO extraction_records_pkey;
ALTER INDEX extractions_capture_idx RENAME TO extraction_records_capture_idx;
ALTER INDEX extractions_extractor_idx RENAME TO extraction_records_extractor_idx;
ALTER INDEX extractions_text_sha256_idx RENAME TO extraction_records_text_sha256_idx;
ALTER INDEX extractions_run_capture_idx RENAME TO extraction_records_run_capture_idx;
ALTER TABLE extraction_records DROP COLUMN text, DROP COLUMN paragraphs;
ALTER TABLE extraction_records
    ALTER COLUMN text_sha256 SET NOT NULL,
    ADD CONSTRAINT extraction_records_text_fkey FOREIGN KEY (text_sha256) REFERENCES texts (sha256);

-- The former tables, as views with their former columns.
CREATE VIEW extractions AS
SELECT r.id, r.capture_id, r.extractor, r.extractor_version, r.config_hash, r.crawl_run_id, r.caiji_version,
       r.git_commit, r.title, r.published_at, r.published_ts, r.author, t.paragraphs, t.text, r.metadata, r.flags,
       r.extracted_at, r.text_sha256
FROM extraction_records r
JOIN texts t ON t.sha256 = r.text_sha256;

CREATE VIEW search_texts AS SELECT sha256, text, words FROM texts;

-- The newest extraction of the newest successful capture per canonical URL (as in version 1),
-- written as "no newer capture, no newer extraction" instead of DISTINCT ON: the same rows,
-- but a filter on the text (a search) now starts from the text's index and checks each hit,
-- where DISTINCT ON computed every document of the archive first.
CREATE VIEW documents AS
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
    r.text_sha256
FROM captures c
JOIN extraction_records r ON r.capture_id = c.id
JOIN texts t ON t.sha256 = r.text_sha256
WHERE c.outcome = 'ok'
  AND NOT EXISTS (SELECT 1 FROM captures newer
                  WHERE newer.canonical_url = c.canonical_url AND newer.outcome = 'ok'
                    AND (newer.fetched_at, newer.id) > (c.fetched_at, c.id))
  AND NOT EXISTS (SELECT 1 FROM extraction_records newer
                  WHERE newer.capture_id = c.id AND (newer.extracted_at, newer.id) > (r.extracted_at, r.id));

-- As in version 2.
CREATE VIEW provenance AS
SELECT
    d.url,
    d.site,
    d.title,
    c.id                    AS capture_id,
    c.url                   AS requested_url,
    c.final_url,
    c.redirect_chain,
    c.status,
    c.fetched_at,
    c.attempts,
    c.response_headers,
    c.content_type,
    encode(c.body_sha256, 'hex') AS body_sha256,
    c.body_length,
    c.charset_bom,
    c.charset_header,
    c.charset_meta,
    c.charset_detected,
    c.encoding_used,
    c.charset_source,
    c.replacement_chars,
    cr.id                   AS crawl_run_id,
    cr.arguments            AS crawl_arguments,
    cr.started_at           AS crawl_started_at,
    cr.caiji_version        AS crawl_caiji_version,
    cr.git_commit           AS crawl_git_commit,
    e.id                    AS extraction_id,
    e.extractor,
    e.extractor_version,
    e.config_hash           AS extractor_config_hash,
    e.extracted_at,
    e.caiji_version         AS extraction_caiji_version,
    e.git_commit            AS extraction_git_commit,
    er.id                   AS extraction_run_id,
    er.command              AS extraction_command,
    er.arguments            AS extraction_arguments,
    b.content               AS body
FROM documents d
JOIN captures c ON c.id = d.capture_id
JOIN extraction_records e ON e.id = d.extraction_id
LEFT JOIN bodies b ON b.sha256 = c.body_sha256
LEFT JOIN crawl_runs cr ON cr.id = c.crawl_run_id
LEFT JOIN crawl_runs er ON er.id = e.crawl_run_id;

-- As in version 2, plus the text's hash (comparing versions compares hashes, not texts).
CREATE VIEW extraction_versions AS
SELECT v.url, v.site, v.capture_id, v.extractor, v.extractor_version, v.config_hash, v.extraction_id, v.title,
       v.published_at, t.text, v.extracted_at, v.text_sha256
FROM (
    SELECT DISTINCT ON (r.capture_id, r.extractor, r.extractor_version)
        c.canonical_url AS url, c.site, r.capture_id, r.extractor, r.extractor_version, r.config_hash,
        r.id AS extraction_id, r.title, r.published_at, r.extracted_at, r.text_sha256
    FROM extraction_records r JOIN captures c ON c.id = r.capture_id
    ORDER BY r.capture_id, r.extractor, r.extractor_version, r.id DESC
) v
JOIN texts t ON t.sha256 = v.text_sha256;

-- lz4 instead of pglz for the large columns: about three times faster to read back (a
-- re-extraction reads every body) at the same size on HTML. Applies to values written from
-- now on; servers built without lz4 keep pglz.
DO $$
BEGIN
    ALTER TABLE bodies ALTER COLUMN content SET COMPRESSION lz4;
    ALTER TABLE texts ALTER COLUMN text SET COMPRESSION lz4, ALTER COLUMN paragraphs SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'caiji: this server has no lz4; compressed columns stay pglz';
END $$;
