-- The audit log: one row per change of the registry's state, inserted in the change's own
-- transaction (a change that rolls back leaves no row; no row exists without its change).
-- Append-only: the trigger below refuses UPDATE and TRUNCATE always, and DELETE unless the
-- transaction says it prunes (SET LOCAL wasmgrid.audit_prune = 'on'), so neither the
-- service nor a mistaken statement can rewrite history. A guard against mistakes, not
-- against the database owner, who can drop it. Pruning old rows is the operator's
-- (marketplace README, "Audit log").
CREATE TABLE audit_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    -- The acting user and their name as it was; NULL / '': no user (anonymous sign-up,
    -- the service's bootstrap admin). No foreign key: the log outlives what it names.
    actor_id       bigint,
    actor_name     text NOT NULL DEFAULT '',
    action         text NOT NULL CHECK (action IN (
                       'publish', 'yank', 'unyank', 'token_create', 'token_revoke',
                       'user_create', 'owner_add', 'owner_remove', 'limits_set', 'rate')),
    -- What was acted on: a namespace (normalised), a module ("ns/name" as displayed), a
    -- version, a token, a user (the subject: created, added or removed as owner, or the
    -- owner of a revoked token).
    namespace      text,
    module         text,
    version        text,
    token_id       uuid,
    subject        text,
    -- What else the action records (caps before and after, a yank's reason, a token's
    -- scopes); never a token secret or hash.
    detail         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'),
    client_address text NOT NULL DEFAULT '' CHECK (length(client_address) <= 256),
    peer_address   text NOT NULL DEFAULT '' CHECK (length(peer_address) <= 256),
    trace_id       text NOT NULL DEFAULT '' CHECK (trace_id ~ '^([0-9a-f]{32})?$')
);
-- Newest first, whole log or one namespace's or one actor's history; `at` leads so a
-- since/until window is a range of the index.
CREATE INDEX audit_log_recent ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_namespace ON audit_log (namespace, at DESC, id DESC)
    WHERE namespace IS NOT NULL;
CREATE INDEX audit_log_actor ON audit_log (actor_id, at DESC, id DESC)
    WHERE actor_id IS NOT NULL;

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('wasmgrid.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'to prune old rows: SET LOCAL wasmgrid.audit_prune = on, then DELETE';
END
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
