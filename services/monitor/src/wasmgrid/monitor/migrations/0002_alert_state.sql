-- Alert state kept across restarts (written by the notifier replica on every transition),
-- so a firing alert does not wait for its `for` again after the monitor restarts.
CREATE TABLE alerts (
    rule            text NOT NULL,
    fingerprint     text NOT NULL,
    labels          jsonb NOT NULL,
    annotations     jsonb NOT NULL,
    state           smallint NOT NULL CHECK (state IN (1, 2, 3)),
    severity        smallint NOT NULL,
    value           double precision NOT NULL,
    active_since    double precision NOT NULL,
    fired_at        double precision NOT NULL DEFAULT 0,
    resolved_at     double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (rule, fingerprint)
);
