-- Typo tolerance without pg_trgm, on a vocabulary instead of per-module trigrams.
--
-- module_trigrams held every trigram of every module name (~23 rows per module):
-- a misspelt query read the posting lists of all its trigrams (16,000 rows for a
-- three-word query over 10,000 modules) and counted them per module. Now each
-- distinct word of any module name is stored once with its trigrams; a query word
-- is corrected against this vocabulary (small posting lists: a word used by 500
-- names is one entry), and the corrected words are looked up in the full-text GIN
-- index like any other query.
CREATE TABLE name_word_trigrams (
    trigram text NOT NULL,
    word    text NOT NULL CHECK (word ~ '^[a-z0-9]+$'),
    PRIMARY KEY (trigram, word)
);

-- Same trigrams as search.word_trigrams(): each word padded with two spaces before and
-- one after; the words of a normalised name are separated by '-'.
INSERT INTO name_word_trigrams (trigram, word)
SELECT DISTINCT substr('  ' || w.word || ' ', i, 3), w.word
FROM (SELECT DISTINCT regexp_split_to_table(name_norm, '[^a-z0-9]+') AS word FROM modules) w,
     generate_series(1, length(w.word) + 1) AS i
WHERE w.word <> '';

DROP TABLE module_trigrams;
