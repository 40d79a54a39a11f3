-- Every backtest run at once, from the registry: one TRUNCATE of every backtest partition
-- (precog_backtest_truncate(): constant time, a few locks, no row triggers); returns how many rows
-- each tagged table held.
-- SECURITY DEFINER so that it is the one way to delete in bulk: no role has DELETE or TRUNCATE on
-- a tagged table.
CREATE OR REPLACE FUNCTION purge_backtest_data() RETURNS TABLE (table_name text, rows_deleted bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  partitions text;
BEGIN
  SELECT string_agg(public.precog_environment_partition(format('public.%I', d.table_name)::regclass, 'backtest')::text, ', ' ORDER BY d.table_name)
    INTO partitions FROM public.precog_environment_tables d;
  IF partitions IS NOT NULL THEN
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', partitions);
    FOR table_name IN SELECT d.table_name FROM public.precog_environment_tables d ORDER BY d.table_name LOOP
      EXECUTE format('SELECT count(*) FROM %s', public.precog_environment_partition(format('public.%I', table_name)::regclass, 'backtest')) INTO rows_deleted;
      RETURN NEXT;
    END LOOP;
    -- Every backtest row at once, under permits no caller can write (precog_backtest_purged_together).
    PERFORM public.precog_backtest_truncate();
  END IF;
  DELETE FROM public.backtest_runs;
  DELETE FROM public.precog_backtest_runs_deleted;
  DELETE FROM public.precog_environment_keys k WHERE k.environment OPERATOR(pg_catalog.=) 'backtest'::public.execution_environment;
END;
$$;
COMMENT ON FUNCTION purge_backtest_data() IS
  'Deletes every backtest run and its rows in every tagged table in precog_environment_tables (one TRUNCATE of their backtest partitions, by precog_backtest_truncate(): constant time, no row triggers), and nothing else; returns how many rows each table held. Live rows are never deleted, paper rows are kept as training data. Executable by the owner and precog_backtest_admin.';
REVOKE ALL ON FUNCTION purge_backtest_data() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_backtest_data() TO precog_backtest_admin;
