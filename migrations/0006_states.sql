-- caiji archive schema, version 6: every recorded state is one of a known set of words (the
-- Rust enums in crates/caiji-archive/src/states.rs), and runs record why they ended.

-- Values written before this migration are all in these sets.
ALTER TABLE crawl_runs
    ADD CONSTRAINT crawl_runs_outcome_known CHECK (outcome IN
        ('running', 'done', 'done_with_failures', 'incomplete', 'failed', 'interrupted', 'abandoned')),
    ADD COLUMN error text;                               -- why a run ended incomplete, failed or abandoned

ALTER TABLE captures
    ADD CONSTRAINT captures_outcome_known CHECK (outcome IN
        ('ok', 'http_status', 'too_large', 'timeout', 'redirect_loop', 'too_many_redirects', 'network_error',
         'redirect_off_site', 'address_refused', 'unsupported_encoding')),
    ADD CONSTRAINT captures_charset_source_known CHECK (charset_source IN
        ('bom', 'header', 'meta', 'detector', 'utf8-valid', 'detector-override'));

ALTER TABLE frontier
    ADD CONSTRAINT frontier_kind_known CHECK (kind IN ('start', 'list', 'sitemap', 'article', 'feed')),
    ADD COLUMN depth smallint NOT NULL DEFAULT 0,        -- hops from a seed (start URL, sitemap, feed)
    ADD COLUMN lastmod timestamptz,                      -- last modification a sitemap <lastmod> or feed entry date states
    ADD CONSTRAINT frontier_state_known CHECK (state IN
        ('pending', 'in_progress', 'done', 'failed', 'disallowed', 'gone', 'refused'));

ALTER TABLE extraction_records
    ADD CONSTRAINT extraction_records_flags_known CHECK (flags <@ ARRAY
        ['content_missing', 'fallback', 'not_html', 'empty', 'too_deep']::text[]);
