-- extraction_records' references (capture, text, run) checked once per statement, set-based,
-- instead of by three row-level foreign keys. A foreign key runs a query per inserted row and
-- locks the referenced row (FOR KEY SHARE), which writes to the page of every capture and text
-- a re-extraction touches: on a forced re-extraction the three checks were about a quarter of
-- Postgres's CPU, and the raw captures' pages were rewritten (and WAL-logged) by a read-only
-- pass. The lock only protects the referenced rows from deletion, so instead the referenced
-- tables refuse deletion outright: captures were already immutable; texts are content-addressed
-- (immutable but for the derived `words`); crawl runs are the provenance history.

ALTER TABLE extraction_records
    DROP CONSTRAINT extractions_capture_id_fkey,
    DROP CONSTRAINT extractions_crawl_run_id_fkey,
    DROP CONSTRAINT extraction_records_text_fkey;

CREATE FUNCTION caiji_check_extraction_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    SELECT format('capture %s', n.capture_id) INTO missing FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM captures c WHERE c.id = n.capture_id) LIMIT 1;
    IF missing IS NULL THEN
        SELECT format('text %s', encode(n.text_sha256, 'hex')) INTO missing FROM new_rows n
        WHERE NOT EXISTS (SELECT 1 FROM texts t WHERE t.sha256 = n.text_sha256) LIMIT 1;
    END IF;
    IF missing IS NULL THEN
        SELECT format('crawl run %s', n.crawl_run_id) INTO missing FROM new_rows n
        WHERE n.crawl_run_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM crawl_runs r WHERE r.id = n.crawl_run_id) LIMIT 1;
    END IF;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'caiji: extraction_records references a missing %', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER extraction_records_references AFTER INSERT ON extraction_records
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION caiji_check_extraction_references();

-- Refuses the statement; the trigger's argument says why.
CREATE FUNCTION caiji_reject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'caiji: % on % is forbidden: %', TG_OP, TG_TABLE_NAME, TG_ARGV[0]
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER extraction_records_references_fixed
    BEFORE UPDATE OF capture_id, text_sha256, crawl_run_id ON extraction_records
    FOR EACH ROW EXECUTE FUNCTION caiji_reject('an extraction''s capture, text and run never change');
CREATE TRIGGER texts_immutable BEFORE UPDATE OF sha256, text, paragraphs OR DELETE ON texts
    FOR EACH ROW EXECUTE FUNCTION caiji_reject('texts are content-addressed and referenced by extractions');
CREATE TRIGGER texts_no_truncate BEFORE TRUNCATE ON texts
    FOR EACH STATEMENT EXECUTE FUNCTION caiji_reject('texts are content-addressed and referenced by extractions');
CREATE TRIGGER crawl_runs_kept BEFORE UPDATE OF id OR DELETE ON crawl_runs
    FOR EACH ROW EXECUTE FUNCTION caiji_reject('crawl runs are the archive''s provenance');
CREATE TRIGGER crawl_runs_no_truncate BEFORE TRUNCATE ON crawl_runs
    FOR EACH STATEMENT EXECUTE FUNCTION caiji_reject('crawl runs are the archive''s provenance');
