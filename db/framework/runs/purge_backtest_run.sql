-- SECURITY DEFINER, as precog_backtest_run_deleted() is: deleting a run notes it as deleted, which
-- only the owner may; it deletes the one run named, and returns the run's row (no tagged row).
CREATE OR REPLACE FUNCTION purge_backtest_run(run bigint) RETURNS public.backtest_runs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  deleted public.backtest_runs;
BEGIN
  DELETE FROM public.backtest_runs r WHERE r.id OPERATOR(pg_catalog.=) run RETURNING * INTO deleted;
  IF deleted.id IS NULL THEN
    RAISE EXCEPTION 'purge_backtest_run: there is no backtest run %', run
      USING ERRCODE = 'P0002', HINT = 'List the runs: npm run backtests -- list (SQL: SELECT * FROM backtest_runs).';
  END IF;
  RETURN deleted;
END;
$$;
COMMENT ON FUNCTION purge_backtest_run(bigint) IS
  'Deletes one backtest run: its rows in every tagged table are hidden at once and deleted by precog_backtest_sweep(); returns the run. Every other run, and live and paper, are untouched. Executable by the owner and precog_backtest_admin.';
REVOKE ALL ON FUNCTION purge_backtest_run(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_backtest_run(bigint) TO precog_backtest_admin;
