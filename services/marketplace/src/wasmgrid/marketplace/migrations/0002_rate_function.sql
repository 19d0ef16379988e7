-- One round trip per rating: the read-modify-write of a rating and the module's exact
-- aggregate run inside the database, so the module row lock (which serialises all
-- raters of a module) is held for microseconds instead of several client round trips.
-- VOLATILE plpgsql takes a fresh snapshot per statement, so after waiting for a lock
-- each statement sees the latest committed rating.
CREATE FUNCTION rate_module(p_full_norm text, p_user bigint, p_stars smallint, p_review text)
RETURNS TABLE (
    o_status       text,
    o_stars        smallint,
    o_review       text,
    o_created_at   timestamptz,
    o_updated_at   timestamptz,
    o_rating_count bigint,
    o_rating_avg   double precision,
    o_histogram    bigint[]
)
LANGUAGE plpgsql
SET search_path = marketplace, public
AS $$
DECLARE
    v_module bigint;
    v_ns     bigint;
    v_old    smallint;
    r        ratings%ROWTYPE;
    d        bigint[] := '{0,0,0,0,0}';
BEGIN
    SELECT m.id, m.namespace_id INTO v_module, v_ns FROM modules m WHERE m.full_norm = p_full_norm;
    IF v_module IS NULL THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::smallint, NULL::text, NULL::timestamptz,
            NULL::timestamptz, NULL::bigint, NULL::double precision, NULL::bigint[];
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM namespace_owners o WHERE o.namespace_id = v_ns AND o.user_id = p_user)
    THEN
        RETURN QUERY SELECT 'own'::text, NULL::smallint, NULL::text, NULL::timestamptz,
            NULL::timestamptz, NULL::bigint, NULL::double precision, NULL::bigint[];
        RETURN;
    END IF;
    INSERT INTO ratings AS x (module_id, user_id, stars, review)
        VALUES (v_module, p_user, p_stars, p_review)
        ON CONFLICT (module_id, user_id) DO NOTHING
        RETURNING x.* INTO r;
    IF NOT FOUND THEN
        SELECT x.stars INTO v_old FROM ratings x
            WHERE x.module_id = v_module AND x.user_id = p_user FOR UPDATE;
        UPDATE ratings x SET stars = p_stars, review = p_review, updated_at = now()
            WHERE x.module_id = v_module AND x.user_id = p_user
            RETURNING x.* INTO r;
    END IF;
    d[p_stars] := 1;
    IF v_old IS NOT NULL THEN
        d[v_old] := d[v_old] - 1;
    END IF;
    RETURN QUERY
        UPDATE modules m SET
            rating_count = m.rating_count + CASE WHEN v_old IS NULL THEN 1 ELSE 0 END,
            rating_sum = m.rating_sum + p_stars - coalesce(v_old, 0),
            stars = ARRAY[m.stars[1] + d[1], m.stars[2] + d[2], m.stars[3] + d[3],
                          m.stars[4] + d[4], m.stars[5] + d[5]]
        WHERE m.id = v_module
        RETURNING 'ok'::text, r.stars, r.review, r.created_at, r.updated_at,
            m.rating_count, m.rating_avg, m.stars;
END
$$;
