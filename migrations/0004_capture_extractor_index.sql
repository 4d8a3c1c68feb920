-- Re-extraction asks, for every capture, for the newest extraction by one extractor (its id
-- and text hash) and whether this extractor version and configuration already ran. Keyed by
-- (capture_id, extractor, id DESC) and carrying the rest, one index answers both from the
-- index alone, newest first, with no sort; it replaces the index on
-- (capture_id, extractor, extractor_version, config_hash), whose lookups it also serves.
CREATE INDEX extraction_records_capture_newest_idx
    ON extraction_records (capture_id, extractor, id DESC)
    INCLUDE (extractor_version, config_hash, text_sha256);
DROP INDEX extraction_records_capture_idx;
