-- caiji archive schema, version 10: a text's search words in their own table.
--
-- Version 9 stored a crawled text with `texts.words` NULL and filled the column in a batch when
-- the run ended: an UPDATE, which in PostgreSQL writes the whole row again (the text with it)
-- and leaves the old version behind as a dead tuple. Every text was written twice, and `texts`
-- was about twice its size until vacuumed (40,000 dead tuples after a 45,000-page crawl, 7.6 KB
-- per text for 3.9 KB of data). Words are now inserted once, beside the text, and never update
-- it: `texts` is insert-only.
--
-- Migrating a query: `texts.words` is now `text_words.words` (join on sha256), or
-- `search_texts.words` as before.

CREATE TABLE text_words (
    sha256 bytea PRIMARY KEY REFERENCES texts (sha256),
    -- jieba's words of the text, lexemes without positions: strip(to_tsvector('simple', …)).
    -- Empty when the text has no words (an empty text): indexed, nothing to find.
    words  tsvector NOT NULL
);

INSERT INTO text_words (sha256, words) SELECT sha256, words FROM texts WHERE words IS NOT NULL;

CREATE INDEX text_words_idx ON text_words USING gin (words);

DROP VIEW search_texts;
-- Drops texts_words_idx and texts_unindexed_idx with it.
ALTER TABLE texts DROP COLUMN words;

-- A text not yet indexed has no row in text_words: its words are NULL here.
CREATE VIEW search_texts AS
SELECT t.sha256, t.text, w.words FROM texts t LEFT JOIN text_words w USING (sha256);
