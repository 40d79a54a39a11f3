-- The partition of tagged table t that holds `environment` (NULL: the one for a NULL
-- environment), found by its bound rather than its name.
CREATE OR REPLACE FUNCTION precog_environment_partition(t regclass, environment text) RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = t
     AND pg_get_expr(c.relpartbound, c.oid) = CASE WHEN environment IS NULL THEN 'FOR VALUES IN (NULL)' ELSE format('FOR VALUES IN (%L)', environment) END
$$;
COMMENT ON FUNCTION precog_environment_partition(regclass, text) IS
  'The partition of a tagged table that holds one environment (NULL: the always-empty one for a NULL environment).';
