-- The publish feed: one row per published version, in commit order, so that each
-- runtime replica compiles (and fetches the assets of) a new version before its first
-- call. Every marketplace replica LISTENs on channel 'wasmgrid_publish' (NOTIFY carries
-- the seq, sent at commit) and a watcher that reconnects catches up by seq, since a
-- NOTIFY sent while nobody listened is lost. Publishes take one advisory lock just
-- before they insert here (held until commit), so seq order is commit order and a
-- reader never passes over a row that commits later with a lower seq.
CREATE TABLE publish_feed (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version_id    bigint NOT NULL REFERENCES versions (id),
    published_at  timestamptz NOT NULL DEFAULT now()
);
