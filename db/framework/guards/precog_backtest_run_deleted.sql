-- BEFORE DELETE on backtest_runs: the run is noted as deleted; its rows are gone from every read
-- at once (the policies) and deleted by precog_backtest_sweep() afterwards. It refuses to run for
-- anything else ([trigger-misplaced]): a login attaching it to a table of its own could delete any run.
-- SECURITY DEFINER: precog_backtest_runs_deleted is granted to nobody for writing; it notes the deleted run only.
CREATE OR REPLACE FUNCTION precog_backtest_run_deleted() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF TG_RELID OPERATOR(pg_catalog.<>) 'public.backtest_runs'::regclass OR TG_OP OPERATOR(pg_catalog.<>) 'DELETE' OR TG_LEVEL OPERATOR(pg_catalog.<>) 'ROW' OR TG_WHEN OPERATOR(pg_catalog.<>) 'BEFORE' THEN
    RAISE EXCEPTION '[trigger-misplaced] % was made for deletes of backtest_runs only: it does not run for %', TG_NAME, TG_RELID::regclass
      USING ERRCODE = '42501', HINT = 'The framework attaches this function where it belongs; attach nothing else to it.';
  END IF;
  INSERT INTO public.precog_backtest_runs_deleted (backtest_run_id) VALUES (OLD.id) ON CONFLICT DO NOTHING;
  RETURN OLD;
END;
$$;
COMMENT ON FUNCTION precog_backtest_run_deleted() IS
  'BEFORE DELETE on backtest_runs (and nothing else: [trigger-misplaced]): notes the run in precog_backtest_runs_deleted (one row, whatever the run''s size); its rows are hidden from every read at once and deleted by precog_backtest_sweep(). Every other run, and live and paper, are untouched. Executable by nobody: the trigger runs it.';
REVOKE ALL ON FUNCTION precog_backtest_run_deleted() FROM PUBLIC;
