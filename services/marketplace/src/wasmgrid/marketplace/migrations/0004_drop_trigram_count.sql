-- Name similarity is scored against the query's trigrams only; the per-module count
-- is no longer read, and keeping it cost one extra UPDATE per new module.
ALTER TABLE modules DROP COLUMN trigram_count;
