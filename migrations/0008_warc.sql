-- caiji archive schema, version 8: WARC import provenance (docs/warc.md).
-- Every record `caiji import warc` reads is one row: where it was (file, its sha256, the
-- record's offset in the file as stored, compressed when the file is), what it was, and what
-- became of it. A record imported once is never imported again (the same file read twice adds
-- nothing); a record refused says why. An imported capture and its row are written in one
-- transaction.
CREATE TABLE warc_records (
    id              bigserial   PRIMARY KEY,
    crawl_run_id    bigint      NOT NULL REFERENCES crawl_runs(id), -- the import run (command 'import')
    file_name       text        NOT NULL,                   -- the path given to caiji import
    file_sha256     bytea       NOT NULL CHECK (octet_length(file_sha256) = 32),
    record_offset   bigint      NOT NULL,                   -- byte offset of the record (of its gzip member) in the file
    record_id       text,                                   -- WARC-Record-ID (null for ARC records)
    record_type     text        NOT NULL,                   -- WARC-Type, or 'arc' for an ARC record
    target_uri      text,
    warc_date       timestamptz,
    status          text        NOT NULL CHECK (status IN ('imported', 'skipped', 'rejected')),
    reason          text,                                   -- why skipped or rejected
    capture_id      bigint      REFERENCES captures(id),    -- the capture an imported record became
    warc_headers    jsonb       NOT NULL DEFAULT '{}',      -- the record's WARC header fields, name -> [values]
    imported_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (file_sha256, record_offset),
    CHECK ((status = 'imported') = (capture_id IS NOT NULL)),
    CHECK (status = 'imported' OR reason IS NOT NULL)
);
CREATE INDEX warc_records_capture_idx ON warc_records (capture_id) WHERE capture_id IS NOT NULL;
CREATE INDEX warc_records_record_id_idx ON warc_records (record_id) WHERE record_id IS NOT NULL;
