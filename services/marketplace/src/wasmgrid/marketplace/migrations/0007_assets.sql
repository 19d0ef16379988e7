-- Read-only assets: a version may carry a file tree, stored as a canonical tar in the
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

CREATE INDEX versions_assets_digest ON versions (assets_digest, published_at)
    WHERE assets_digest IS NOT NULL;
