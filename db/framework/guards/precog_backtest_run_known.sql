-- AFTER INSERT FOR EACH STATEMENT on <t> and <t>_backtest: every backtest row names a run that
-- exists; the runs are locked FOR KEY SHARE, so deleting one waits for the transactions writing
-- into it (and then none can: its row is gone). SECURITY DEFINER: it reads and locks backtest_runs;
-- so it refuses to run for a table that is not in the registry ([trigger-misplaced]).
CREATE OR REPLACE FUNCTION precog_backtest_run_known() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  unknown bigint;
  table_name text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = coalesce(pg_partition_root(TG_RELID), TG_RELID));
BEGIN
  IF NOT EXISTS (SELECT FROM public.precog_environment_tables d
                  WHERE pg_catalog.to_regclass(pg_catalog.format('public.%I', d.table_name)) OPERATOR(pg_catalog.=) coalesce(pg_partition_root(TG_RELID), TG_RELID))
     OR TG_OP OPERATOR(pg_catalog.<>) 'INSERT' OR TG_LEVEL OPERATOR(pg_catalog.<>) 'STATEMENT' OR TG_WHEN OPERATOR(pg_catalog.<>) 'AFTER' THEN
    RAISE EXCEPTION '[trigger-misplaced] % was made for inserts into the tables of precog_environment_tables only: it does not run for %', TG_NAME, TG_RELID::regclass
      USING ERRCODE = '42501', HINT = 'precog_environment_table() attaches this function where it belongs; attach nothing else to it.';
  END IF;
  PERFORM FROM public.backtest_runs r
   WHERE r.id IN (SELECT DISTINCT n.backtest_run_id FROM new_rows n WHERE n.backtest_run_id IS NOT NULL)
     FOR KEY SHARE OF r;
  SELECT n.backtest_run_id INTO unknown FROM new_rows n
   WHERE n.backtest_run_id IS NOT NULL
     AND NOT EXISTS (SELECT FROM public.backtest_runs r WHERE r.id OPERATOR(pg_catalog.=) n.backtest_run_id)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '[backtest-run-required] %.backtest_run_id = %: there is no such backtest run', table_name, unknown
      USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'backtest_run_id',
            HINT = 'Create the run first (createBacktestRun; SQL: create_backtest_run()); a deleted run takes its rows with it.';
  END IF;
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION precog_backtest_run_known() IS
  'AFTER INSERT FOR EACH STATEMENT on every tagged table and its backtest partition: a backtest row names an existing run ([backtest-run-required]), locked FOR KEY SHARE until the transaction ends; it runs for the tables of the registry only ([trigger-misplaced]). SECURITY DEFINER: it reads and locks backtest_runs. Executable by nobody: triggers run it.';
REVOKE ALL ON FUNCTION precog_backtest_run_known() FROM PUBLIC;
