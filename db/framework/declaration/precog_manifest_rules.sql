-- The rules a text names, as every refusal names them: '[environment-immutable]', ... in order, once.
CREATE OR REPLACE FUNCTION precog_manifest_rules(about text) RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(array_agg(r.rule ORDER BY r.first), '{}')
    FROM (SELECT m.match[1] AS rule, min(m.n) AS first FROM regexp_matches(coalesce(about, ''), '(\[[a-z][a-z-]*\])', 'g') WITH ORDINALITY AS m(match, n) GROUP BY 1) r
$$;
COMMENT ON FUNCTION precog_manifest_rules(text) IS
  'Used by precog_environment_manifest_record(): the [rule] names a comment mentions, in order of first mention.';
REVOKE ALL ON FUNCTION precog_manifest_rules(text) FROM PUBLIC;
