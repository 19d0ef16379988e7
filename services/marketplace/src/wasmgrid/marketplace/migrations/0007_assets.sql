-- Read-only assets and scratch space: a version may carry a file tree, stored as a canonical tar in the
-- content-addressed blobs (so Download serves it by digest like a module) and described
-- once per digest here; the version names the digest and where the guest sees it.
CREATE TABLE assets (
    digest        text PRIMARY KEY REFERENCES blobs (digest),
    file_count    integer NOT NULL CHECK (file_count >= 0),
    content_bytes bigint NOT NULL CHECK (content_bytes >= 0)
);

ALTER TABLE versions
    ADD COLUMN assets_digest text REFERENCES assets (digest),
    ADD COLUMN assets_mount  text,
    ADD CONSTRAINT versions_assets_mount CHECK ((assets_digest IS NULL) = (assets_mount IS NULL));

-- A version may also ask for a private writable directory per call (NULL mount: none;
-- 0 caps: the runtime's defaults).
ALTER TABLE versions
    ADD COLUMN scratch_mount     text,
    ADD COLUMN scratch_max_bytes bigint NOT NULL DEFAULT 0 CHECK (scratch_max_bytes >= 0),
    ADD COLUMN scratch_max_files integer NOT NULL DEFAULT 0 CHECK (scratch_max_files >= 0);

CREATE INDEX versions_assets_digest ON versions (assets_digest, published_at)
    WHERE assets_digest IS NOT NULL;
