-- caiji archive schema, version 12: a text's search words kept as a word list, indexed as a
-- tsvector.
--
-- Version 10 stored each text's words as `strip(to_tsvector('simple', …))`: 2.1 KB per text on
-- the generated bench pages, more than the ~2 KB above which PostgreSQL moves a value out of
-- its row (TOAST: chunk rows and their index on top), and never compressed (pglz gives up
-- below a quarter saved). The same words as a space-separated list take 1.5 KB and stay in the
-- row: on a 46,000-capture bench archive the words went from 132 MB (a third of the archive)
-- to 79 MB, index included.
--
-- Queries do not change: `text_words` is now a view with the same columns (sha256, words),
-- `words` computed from the list by the expression the GIN index is built on, so
-- `text_words.words @@ …` and `search_texts.words @@ …` use the index as before.

CREATE TABLE text_word_lists (
    sha256    bytea PRIMARY KEY REFERENCES texts (sha256),
    -- jieba's distinct words of the text, separated by single spaces (letters and digits only,
    -- lowercased). Empty when the text has no words.
    word_list text NOT NULL
);

-- Long lists (rows over ~2 KB, which PostgreSQL compresses) use lz4 where the server has it
-- (PostgreSQL 14+ built with lz4, as Debian's is): it keeps a saving pglz would give up on.
DO $$
BEGIN
    ALTER TABLE text_word_lists ALTER COLUMN word_list SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available: word lists use the default compression';
END $$;

INSERT INTO text_word_lists (sha256, word_list)
SELECT sha256, array_to_string(tsvector_to_array(words), ' ') FROM text_words;

DROP VIEW search_texts;
DROP TABLE text_words;

CREATE INDEX text_word_lists_idx ON text_word_lists USING gin (strip(to_tsvector('simple', word_list)));

CREATE VIEW text_words AS
SELECT sha256, strip(to_tsvector('simple', word_list)) AS words FROM text_word_lists;

-- A text not yet indexed has no row in text_word_lists: its words are NULL here.
CREATE VIEW search_texts AS
SELECT t.sha256, t.text, w.words FROM texts t LEFT JOIN text_words w USING (sha256);
