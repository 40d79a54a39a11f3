-- The partition of t's backtest partition that holds run (NULL: the DEFAULT one, <t>_run_missing).
CREATE OR REPLACE FUNCTION precog_backtest_run_partition(t regclass, run bigint) RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = public.precog_environment_partition(t, 'backtest')
     AND pg_get_expr(c.relpartbound, c.oid) = CASE WHEN run IS NULL THEN 'DEFAULT' ELSE format('FOR VALUES IN (''%s'')', run) END
$$;
COMMENT ON FUNCTION precog_backtest_run_partition(regclass, bigint) IS
  'The partition of a tagged table that holds one backtest run''s rows (NULL: the always-empty DEFAULT one).';
