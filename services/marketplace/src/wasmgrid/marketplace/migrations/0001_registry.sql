-- The registry schema. Applied with search_path = marketplace, public.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL,
    username_norm text NOT NULL UNIQUE,
    role          text NOT NULL CHECK (role IN ('admin', 'publisher', 'user')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tokens (
    id           uuid PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    name         text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    prefix       text NOT NULL,
    scopes       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX tokens_user ON tokens (user_id, created_at DESC);

CREATE TABLE namespaces (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    name_norm  text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE namespace_owners (
    namespace_id bigint NOT NULL REFERENCES namespaces (id),
    user_id      bigint NOT NULL REFERENCES users (id),
    added_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace_id, user_id)
);
CREATE INDEX namespace_owners_user ON namespace_owners (user_id);

-- Content-addressed module bytes, shared by every version with the same digest.
CREATE TABLE blobs (
    digest      text PRIMARY KEY CHECK (digest ~ '^[0-9a-f]{64}$'),
    size_bytes  bigint NOT NULL CHECK (size_bytes >= 0),
    chunk_count integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE blob_chunks (
    digest text NOT NULL REFERENCES blobs (digest),
    seq    integer NOT NULL,
    data   bytea NOT NULL,
    PRIMARY KEY (digest, seq)
);
-- Wasm is stored uncompressed: pglz costs more CPU on every download than it saves.
ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE modules (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace_id    bigint NOT NULL REFERENCES namespaces (id),
    name            text NOT NULL,
    name_norm       text NOT NULL,
    full_norm       text NOT NULL UNIQUE,
    latest_version  text NOT NULL,
    description     text NOT NULL DEFAULT '',
    license         text NOT NULL DEFAULT '',
    category        text NOT NULL DEFAULT '',
    tags            text[] NOT NULL DEFAULT '{}',
    homepage        text NOT NULL DEFAULT '',
    repository      text NOT NULL DEFAULT '',
    kind            text NOT NULL DEFAULT '',
    all_yanked      boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    downloads       bigint NOT NULL DEFAULT 0,
    runtime_fetches bigint NOT NULL DEFAULT 0,
    rating_count    bigint NOT NULL DEFAULT 0,
    rating_sum      bigint NOT NULL DEFAULT 0,
    rating_avg      double precision GENERATED ALWAYS AS
                        (CASE WHEN rating_count = 0 THEN 0
                              ELSE rating_sum::double precision / rating_count END) STORED,
    stars           bigint[] NOT NULL DEFAULT '{0,0,0,0,0}',
    trigram_count   integer NOT NULL DEFAULT 0,
    search_vector   tsvector NOT NULL DEFAULT ''::tsvector,
    UNIQUE (namespace_id, name_norm)
);
CREATE INDEX modules_search ON modules USING gin (search_vector);
CREATE INDEX modules_tags ON modules USING gin (tags);
CREATE INDEX modules_category ON modules (category, full_norm);
CREATE INDEX modules_downloads ON modules (downloads DESC, full_norm);
CREATE INDEX modules_rating ON modules (rating_avg DESC, rating_count DESC, full_norm);
CREATE INDEX modules_recent ON modules (updated_at DESC, full_norm);
CREATE INDEX modules_namespace ON modules (namespace_id);

-- Our own trigram index of module names: typo tolerance without pg_trgm.
CREATE TABLE module_trigrams (
    trigram   text NOT NULL,
    module_id bigint NOT NULL REFERENCES modules (id),
    PRIMARY KEY (trigram, module_id)
);

CREATE TABLE versions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    module_id    bigint NOT NULL REFERENCES modules (id),
    version      text NOT NULL,
    -- the version without build metadata: equal precedence means the same version
    version_key  text NOT NULL,
    prerelease   boolean NOT NULL,
    digest       text NOT NULL REFERENCES blobs (digest),
    size_bytes   bigint NOT NULL,
    kind         text NOT NULL,
    description  text NOT NULL,
    license      text NOT NULL,
    category     text NOT NULL,
    tags         text[] NOT NULL,
    homepage     text NOT NULL,
    repository   text NOT NULL,
    validation   jsonb NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    published_by bigint NOT NULL REFERENCES users (id),
    yanked       boolean NOT NULL DEFAULT false,
    yank_reason  text NOT NULL DEFAULT '',
    yanked_at    timestamptz,
    downloads    bigint NOT NULL DEFAULT 0,
    runtime_fetches bigint NOT NULL DEFAULT 0,
    UNIQUE (module_id, version_key)
);
CREATE INDEX versions_digest ON versions (digest, published_at);

CREATE TABLE ratings (
    module_id  bigint NOT NULL REFERENCES modules (id),
    user_id    bigint NOT NULL REFERENCES users (id),
    stars      smallint NOT NULL CHECK (stars BETWEEN 1 AND 5),
    review     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (module_id, user_id)
);
CREATE INDEX ratings_recent ON ratings (module_id, updated_at DESC, user_id);

CREATE TABLE download_daily (
    version_id bigint NOT NULL REFERENCES versions (id),
    day        date NOT NULL,
    purpose    text NOT NULL CHECK (purpose IN ('user', 'runtime')),
    count      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (version_id, day, purpose)
);
