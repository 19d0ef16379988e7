-- Alert rules created through the API (file rules are not stored).
CREATE TABLE rules (
    name        text PRIMARY KEY,
    spec        jsonb NOT NULL,
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Silences: notifications of matching alerts are suppressed between starts_at and ends_at.
CREATE TABLE silences (
    id          uuid PRIMARY KEY,
    matchers    jsonb NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    created_by  text NOT NULL DEFAULT '',
    comment     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX silences_ends_at ON silences (ends_at);

-- The notification outbox: every payload to every receiver, with its delivery state.
CREATE TABLE notifications (
    id               bigserial PRIMARY KEY,
    receiver_kind    text NOT NULL CHECK (receiver_kind IN ('webhook', 'alertmanager')),
    receiver         text NOT NULL,
    group_key        text NOT NULL,
    status           text NOT NULL CHECK (status IN ('firing', 'resolved')),
    alert_count      integer NOT NULL,
    payload          text NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'superseded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notifications_group ON notifications (receiver, group_key) WHERE state = 'pending';
CREATE INDEX notifications_created ON notifications (created_at);
