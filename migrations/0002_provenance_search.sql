-- caiji archive schema, version 2: provenance in one query, Chinese search.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Extracted texts for search, content-addressed like bodies: a re-extraction that yields the
-- same text adds nothing here, so the search indexes are only maintained for new texts.
--   words: the text segmented into words (jieba, search mode) by caiji, a 'simple' tsvector;
--   text: phrase search through the trigram index.
CREATE TABLE search_texts (
    sha256  bytea    PRIMARY KEY CHECK (octet_length(sha256) = 32),
    text    text     NOT NULL,
    words   tsvector NOT NULL
);
CREATE INDEX search_texts_words_idx ON search_texts USING gin (words);
CREATE INDEX search_texts_text_trgm_idx ON search_texts USING gin (text gin_trgm_ops);
ALTER TABLE extractions ADD COLUMN text_sha256 bytea;
CREATE INDEX extractions_text_sha256_idx ON extractions (text_sha256);

-- documents gains published_ts and text_sha256 (the key into search_texts); columns are only
-- ever appended to public views.
CREATE OR REPLACE VIEW documents AS
WITH newest_capture AS (
    SELECT DISTINCT ON (canonical_url) *
    FROM captures
    WHERE outcome = 'ok'
    ORDER BY canonical_url, fetched_at DESC, id DESC
)
SELECT DISTINCT ON (c.canonical_url)
    c.site,
    c.canonical_url     AS url,
    c.final_url,
    e.title,
    e.published_at,
    e.author,
    e.text,
    e.paragraphs,
    e.metadata,
    e.flags,
    e.extractor,
    e.extractor_version,
    e.extracted_at,
    c.fetched_at,
    c.id                AS capture_id,
    e.id                AS extraction_id,
    e.published_ts,
    e.text_sha256
FROM newest_capture c
JOIN extractions e ON e.capture_id = c.id
ORDER BY c.canonical_url, e.extracted_at DESC, e.id DESC;

-- Everything known about how a document came to be, one row per document.
CREATE VIEW provenance AS
SELECT
    d.url,
    d.site,
    d.title,
    -- the capture
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
    -- the charset decision
    c.charset_bom,
    c.charset_header,
    c.charset_meta,
    c.charset_detected,
    c.encoding_used,
    c.charset_source,
    c.replacement_chars,
    -- the crawl run that fetched it
    cr.id                   AS crawl_run_id,
    cr.arguments            AS crawl_arguments,
    cr.started_at           AS crawl_started_at,
    cr.caiji_version        AS crawl_caiji_version,
    cr.git_commit           AS crawl_git_commit,
    -- the extraction
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
    -- the raw bytes, exactly as received (only read when selected)
    b.content               AS body
FROM documents d
JOIN captures c ON c.id = d.capture_id
JOIN extractions e ON e.id = d.extraction_id
LEFT JOIN bodies b ON b.sha256 = c.body_sha256
LEFT JOIN crawl_runs cr ON cr.id = c.crawl_run_id
LEFT JOIN crawl_runs er ON er.id = e.crawl_run_id;

-- Every extraction, newest first per (capture, extractor, version): what `caiji diff` compares.
CREATE VIEW extraction_versions AS
SELECT DISTINCT ON (e.capture_id, e.extractor, e.extractor_version)
    c.canonical_url AS url, c.site, e.capture_id, e.extractor, e.extractor_version, e.config_hash,
    e.id AS extraction_id, e.title, e.published_at, e.text, e.extracted_at
FROM extractions e JOIN captures c ON c.id = e.capture_id
ORDER BY e.capture_id, e.extractor, e.extractor_version, e.id DESC;
