-- The run the current transaction entered (precog_enter_backtest_run()), or NULL: a row of an
-- earlier transaction of the backend counts for nothing. SECURITY DEFINER: it reads a table no
-- caller may read.
CREATE OR REPLACE FUNCTION precog_backtest_run() RETURNS bigint
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (SELECT s.backtest_run_id FROM public.precog_backtest_sessions s
           WHERE s.backend OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
             AND s.transaction OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id_if_assigned());
END;
$$;
COMMENT ON FUNCTION precog_backtest_run() IS
  'The backtest run the current transaction entered with precog_enter_backtest_run(), or NULL. Executable by precog_backtest, whose [backtest-run] policies read it. SECURITY DEFINER: it reads a table no caller may read.';
REVOKE ALL ON FUNCTION precog_backtest_run() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_run() TO precog_backtest;
