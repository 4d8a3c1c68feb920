-- caiji archive schema, version 2: provenance in one query, extractor versions side by side.

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
