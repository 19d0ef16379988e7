-- pg_trgm for name typo tolerance, where the server has it: the extension and a trigram
-- index of module names. The service used to create both at every start; schema changes
-- belong here. WASMGRID_MARKETPLACE_PG_TRGM still decides whether search uses them.
-- Without the extension (the embedded PostgreSQL ships none) or the right to create it,
-- nothing changes and search keeps the name-word vocabulary of migration 0005.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm unavailable, search uses the name-word vocabulary: %', SQLERRM;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS modules_name_trgm ON modules
            USING gin (name_norm gin_trgm_ops);
    END IF;
END
$$;
