-- caiji archive schema, version 13: texts are searched by their characters.
--
-- Versions 1 to 12 segmented every text into words (jieba), last kept as a word list per
-- text with a GIN index over it. On real pages that index was the largest thing in the
-- archive: a key per distinct word, most words seen once. For the 69 CWCED pages it weighed
-- 1.8 MB built fresh and 3.3 MB maintained row by row, the word lists another 0.4 MB, against
-- 1.0 MB of WARC.gz for the same captures. Chinese has a few thousand characters in use, so an
-- index keyed by character stays small (0.3 MB for the same texts, plus 0.1 MB for their
-- `chars`) and does not grow with the vocabulary. It needs no segmenter, so PostgreSQL
-- maintains it as a text is stored, and it finds any substring, not only what a segmenter
-- called a word.
--
-- Migrating a query: `text_words.words @@ to_tsquery('simple', '改革')` (or through
-- `search_texts`) becomes `texts_containing('改革')`; `'高质量 & 发展'` becomes two calls (or one
-- for the phrase, `texts_containing('高质量发展')`).

-- The text's distinct characters in code point order, each once (whitespace and punctuation
-- included), computed by caiji as the text is stored. Sorted input is what makes the index
-- cheap to maintain: PostgreSQL sorts a value's keys before indexing them, and a sorted array
-- takes one pass instead of a comparison sort of every character of the text.
-- caiji computes it in Rust; the same in SQL, for older texts and for rows written by hand.
CREATE FUNCTION caiji_chars(t text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(c, '' ORDER BY c), '')
    FROM (SELECT DISTINCT c COLLATE "C" AS c FROM unnest(string_to_array(t, NULL)) AS u(c)) d
$$;
ALTER TABLE texts ADD COLUMN chars text;
DO $$
BEGIN
    ALTER TABLE texts ALTER COLUMN chars SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available: characters use the default compression';
END $$;
-- Rewrites every text row once, under an exclusive lock: on a large archive, run
-- `caiji db migrate` before the first crawl with this version.
UPDATE texts SET chars = caiji_chars(text);
ALTER TABLE texts ALTER COLUMN chars SET NOT NULL;

-- A row inserted without its characters (an INSERT written by hand) gets them from SQL.
CREATE FUNCTION caiji_fill_chars() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.chars := caiji_chars(NEW.text);
    RETURN NEW;
END $$;
CREATE TRIGGER texts_chars BEFORE INSERT ON texts
    FOR EACH ROW WHEN (NEW.chars IS NULL) EXECUTE FUNCTION caiji_fill_chars();

-- Characters are derived from the text: immutable with it.
DROP TRIGGER texts_immutable ON texts;
CREATE TRIGGER texts_immutable BEFORE UPDATE OF sha256, text, paragraphs, chars OR DELETE ON texts
    FOR EACH ROW EXECUTE FUNCTION caiji_reject('texts are content-addressed and referenced by extractions');

-- Keys compared bytewise (COLLATE "C": UTF-8 byte order is code point order), whatever the
-- database's collation. New entries wait in GIN's pending list (at most 1 MB) and join the
-- index in batches; a crawl run merges what is left when it ends (`caiji index` does it too).
-- Pending entries are searched as well: a stored text is found at once.
CREATE INDEX texts_chars_idx ON texts USING gin ((string_to_array(chars, NULL) COLLATE "C"))
    WITH (gin_pending_list_limit = 1024);
-- Statistics on the new expression, so the planner weighs the index from the start.
ANALYZE texts;

DROP VIEW search_texts;
DROP VIEW text_words;
DROP TABLE text_word_lists;

-- The texts holding `q` as a substring, exactly as written (case, traditional or simplified
-- form). The index gives the texts holding every character of `q`; strpos confirms the
-- substring on those. Inlined by the planner, so the index is used:
--   SELECT d.url, d.title FROM documents d JOIN texts_containing('改革') t ON t.sha256 = d.text_sha256;
CREATE FUNCTION texts_containing(q text) RETURNS TABLE (sha256 bytea, text text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT t.sha256, t.text FROM texts t
    WHERE string_to_array(t.chars, NULL) COLLATE "C" @> string_to_array(q, NULL) COLLATE "C"
      AND strpos(t.text, q) > 0
$$;
