-- Per-namespace size caps: NULL = the service default (WASMGRID_MARKETPLACE_MAX_MODULE_BYTES,
-- 50 MiB). An admin raises (or lowers) a namespace's cap through SetNamespaceLimits; the
-- marketplace checks it at publish, the gateway reads it for that namespace's upload
-- bodies, and a runtime fetches whatever was published (its own variable is a ceiling).
ALTER TABLE namespaces
    ADD COLUMN max_module_bytes bigint CHECK (max_module_bytes > 0),
    ADD COLUMN max_assets_bytes bigint CHECK (max_assets_bytes > 0);
