-- caiji archive schema, version 1.
-- The schema is a public interface (docs/schema.md): later migrations only add; renames go through views.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- One row per caiji invocation that writes to the archive (crawl, extract --rerun).
CREATE TABLE crawl_runs (
    id              bigserial PRIMARY KEY,
    command         text        NOT NULL,               -- 'crawl' | 'extract'
    arguments       jsonb       NOT NULL DEFAULT '{}',  -- the parsed command line
    sites           text[]      NOT NULL DEFAULT '{}',
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    outcome         text        NOT NULL DEFAULT 'running', -- running | done | done_with_failures | failed | interrupted
    counts          jsonb       NOT NULL DEFAULT '{}',  -- fetched, ok, failed, articles, extracted, ...
    caiji_version   text        NOT NULL,               -- crate version
    git_commit      text,                               -- commit caiji was built from, when known
    hostname        text,
    pid             integer
);

-- Response bodies, content-addressed: identical bodies are stored once.
CREATE TABLE bodies (
    sha256      bytea       PRIMARY KEY CHECK (octet_length(sha256) = 32),
    length      bigint      NOT NULL,
    content     bytea       NOT NULL,                   -- exactly as received after transfer decoding
    stored_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (length = octet_length(content))
);

-- One row per HTTP fetch (after retries), whatever its outcome.
CREATE TABLE captures (
    id                  bigserial   PRIMARY KEY,
    crawl_run_id        bigint      REFERENCES crawl_runs(id),
    site                text        NOT NULL,
    url                 text        NOT NULL,           -- as requested
    canonical_url       text        NOT NULL,           -- frontier key (see docs/schema.md)
    final_url           text,                           -- after redirects
    redirect_chain      jsonb       NOT NULL DEFAULT '[]', -- [{url, status, location}] hops before final_url
    outcome             text        NOT NULL,           -- ok | http_status | too_large | timeout | redirect_loop | too_many_redirects | network_error
    error               text,                           -- human-readable reason when outcome <> ok
    status              smallint,                       -- final HTTP status, null when no response
    fetched_at          timestamptz NOT NULL,
    duration_ms         integer     NOT NULL,
    attempts            smallint    NOT NULL,
    response_headers    jsonb       NOT NULL DEFAULT '{}', -- header name -> [values]
    content_type        text,
    body_sha256         bytea       REFERENCES bodies(sha256),
    body_length         bigint,
    -- the charset decision (docs/schema.md, "Charset")
    charset_bom         text,
    charset_header      text,                           -- label from Content-Type
    charset_meta        text,                           -- label from <meta> prescan
    charset_detected    text,                           -- chardetng guess
    encoding_used       text,
    charset_source      text,                           -- bom | header | meta | detector | utf8-valid | default
    replacement_chars   integer
);
CREATE INDEX captures_canonical_url_idx ON captures (canonical_url, fetched_at DESC);
CREATE INDEX captures_site_idx ON captures (site, fetched_at);
CREATE INDEX captures_body_idx ON captures (body_sha256);

-- Raw captures are immutable: the database itself refuses to change or remove them.
CREATE FUNCTION caiji_reject_mutation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'caiji: % on % is forbidden: raw captures are immutable', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER bodies_immutable BEFORE UPDATE OR DELETE ON bodies
    FOR EACH ROW EXECUTE FUNCTION caiji_reject_mutation();
CREATE TRIGGER bodies_no_truncate BEFORE TRUNCATE ON bodies
    FOR EACH STATEMENT EXECUTE FUNCTION caiji_reject_mutation();
CREATE TRIGGER captures_immutable BEFORE UPDATE OR DELETE ON captures
    FOR EACH ROW EXECUTE FUNCTION caiji_reject_mutation();
CREATE TRIGGER captures_no_truncate BEFORE TRUNCATE ON captures
    FOR EACH STATEMENT EXECUTE FUNCTION caiji_reject_mutation();

-- One row per extractor run on a capture. Older versions are never overwritten.
CREATE TABLE extractions (
    id                  bigserial   PRIMARY KEY,
    capture_id          bigint      NOT NULL REFERENCES captures(id),
    extractor           text        NOT NULL,
    extractor_version   text        NOT NULL,
    config_hash         text        NOT NULL,           -- sha256 of the extractor's configuration
    crawl_run_id        bigint      REFERENCES crawl_runs(id), -- the run (crawl or extract) that wrote it
    caiji_version       text        NOT NULL,
    git_commit          text,
    title               text,
    published_at        text,                           -- ISO 8601 at the precision the page shows
    published_ts        timestamp,                      -- the same, as a timestamp (start of day/minute)
    author              text,
    paragraphs          jsonb       NOT NULL,           -- array of strings
    text                text        NOT NULL,           -- paragraphs joined with blank lines
    metadata            jsonb       NOT NULL DEFAULT '{}', -- site metadata (来源, document id, script, ...)
    flags               text[]      NOT NULL DEFAULT '{}', -- content_missing, fallback, not_html, ...
    extracted_at        timestamptz NOT NULL DEFAULT now(),
    text_sha256         bytea,                          -- sha256 of text: the key into search_texts
    CHECK (jsonb_typeof(paragraphs) = 'array')
);
CREATE INDEX extractions_capture_idx ON extractions (capture_id, extractor, extractor_version, config_hash);
CREATE INDEX extractions_extractor_idx ON extractions (extractor, extractor_version);
CREATE INDEX extractions_text_sha256_idx ON extractions (text_sha256);
-- "Did this (interrupted) run already extract this capture?" (extract --rerun --force resumes)
CREATE INDEX extractions_run_capture_idx ON extractions (crawl_run_id, capture_id);
-- Keyset pagination of a site's captures by id (extract --rerun).
CREATE INDEX captures_site_id_idx ON captures (site, id);

-- Extracted texts for search, content-addressed like bodies: a re-extraction that yields the
-- same text adds nothing here, so the search indexes are only maintained for new texts.
--   words: the text segmented into words (jieba, search mode) by caiji, a 'simple' tsvector;
--   text: phrase search through the trigram index (C.UTF-8 cluster: CJK trigrams work).
CREATE TABLE search_texts (
    sha256  bytea    PRIMARY KEY CHECK (octet_length(sha256) = 32),
    text    text     NOT NULL,
    words   tsvector NOT NULL
);
CREATE INDEX search_texts_words_idx ON search_texts USING gin (words);
CREATE INDEX search_texts_text_trgm_idx ON search_texts USING gin (text gin_trgm_ops);

-- The crawl frontier: every URL the crawler knows, canonicalised and deduplicated.
CREATE TABLE frontier (
    canonical_url   text        PRIMARY KEY,
    seq             bigserial   NOT NULL,               -- discovery order (breadth first)
    site            text        NOT NULL,
    url             text        NOT NULL,               -- as first discovered
    kind            text        NOT NULL,               -- start | list | sitemap | article
    state           text        NOT NULL DEFAULT 'pending', -- pending | in_progress | done | failed | disallowed | gone
    attempts        integer     NOT NULL DEFAULT 0,
    discovered_from text,
    discovered_at   timestamptz NOT NULL DEFAULT now(),
    queued_run_id   bigint      REFERENCES crawl_runs(id), -- run that last queued it
    last_run_id     bigint      REFERENCES crawl_runs(id), -- run that last attempted it
    last_capture_id bigint      REFERENCES captures(id),
    last_error      text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX frontier_claim_idx ON frontier (site, state, seq);

-- The newest extraction of the newest successful capture per canonical URL.
CREATE VIEW documents AS
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
