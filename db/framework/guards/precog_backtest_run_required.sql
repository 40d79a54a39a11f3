-- BEFORE INSERT on <t>_run_missing (every row reaching it), and on the live and paper
-- partitions WHEN the row names a run.
CREATE OR REPLACE FUNCTION precog_backtest_run_required() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  table_name text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = pg_partition_root(TG_RELID));
BEGIN
  IF NEW.execution_environment IS DISTINCT FROM 'backtest'::public.execution_environment THEN
    RAISE EXCEPTION '[backtest-run-required] a % row of % belongs to no backtest run (backtest_run_id = %)', NEW.execution_environment, table_name, NEW.backtest_run_id
      USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'backtest_run_id',
            HINT = 'Only backtest rows belong to a run: leave backtest_run_id NULL for live and paper rows.';
  END IF;
  IF NEW.backtest_run_id IS NULL THEN
    RAISE EXCEPTION '[backtest-run-required] a backtest row of % belongs to a backtest run: backtest_run_id is NULL', table_name
      USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'backtest_run_id',
            HINT = 'Open the backtest scope for a run: db.scope(''backtest'', { api: ''none'', run }), with a run from createBacktestRun (SQL: create_backtest_run()).';
  END IF;
  RAISE EXCEPTION '[backtest-run-required] %.backtest_run_id = %: there is no such backtest run', table_name, NEW.backtest_run_id
    USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'backtest_run_id',
          HINT = 'Create the run first (createBacktestRun; SQL: create_backtest_run()); a deleted run takes its rows with it.';
END;
$$;
COMMENT ON FUNCTION precog_backtest_run_required() IS
  'BEFORE INSERT on the <t>_run_missing partition of every tagged table (a backtest row without a run, or of an unknown one) and on its live and paper partitions when a row names a run: [backtest-run-required].';
