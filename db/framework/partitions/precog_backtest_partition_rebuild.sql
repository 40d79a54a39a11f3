-- Rebuilds t's backtest partition as one plain table holding every run's rows (from the
-- partitions per run of 000013, or from a plain partition whose rows have no run yet: those go
-- to `legacy`). The rows move with their ids; the new table is filled before it is attached.
CREATE OR REPLACE FUNCTION precog_backtest_partition_rebuild(t regclass, legacy bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  table_name text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = t);
  old regclass := public.precog_environment_partition(t, 'backtest');
  old_name text := left(table_name, 40) || '_backtest_before_000014';
  fresh regclass;
  columns text;
  bound text := left(table_name, 40) || '_backtest_bound';
BEGIN
  EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', t, old);
  EXECUTE format('ALTER TABLE %s RENAME TO %I', old, old_name);
  EXECUTE format('CREATE TABLE public.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)', table_name || '_backtest', t);
  fresh := format('public.%I', table_name || '_backtest')::regclass;
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO columns
    FROM pg_attribute a WHERE a.attrelid = fresh AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
  EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM public.%I', fresh, columns,
                 replace(columns, 'backtest_run_id', format('coalesce(backtest_run_id, %s) AS backtest_run_id', coalesce(legacy::text, 'NULL'))), old_name);
  -- The bound as a CHECK spares the attach its scan; the partition bound replaces it.
  EXECUTE format($q$ALTER TABLE %s ADD CONSTRAINT %I CHECK (execution_environment IS NOT NULL AND execution_environment = 'backtest')$q$, fresh, bound);
  EXECUTE format($q$ALTER TABLE %s ATTACH PARTITION %s FOR VALUES IN ('backtest')$q$, t, fresh);
  EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fresh, bound);
  EXECUTE format('DROP TABLE public.%I CASCADE', old_name);
END;
$$;
COMMENT ON FUNCTION precog_backtest_partition_rebuild(regclass, bigint) IS
  'Used by precog_backtest_runs_table() and migration 000018: rebuilds a tagged table''s backtest partition as one plain table holding every run''s rows (rows without a run go to the legacy run), keeping ids.';
REVOKE ALL ON FUNCTION precog_backtest_partition_rebuild(regclass, bigint) FROM PUBLIC;
