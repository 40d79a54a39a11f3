-- BEFORE INSERT OR DELETE on precog_backtest_loads: a load is begun (a row here) and finished (the
-- row deleted) by a transaction that entered its run; the row of a deleted run goes with the run
-- (the cascade), whoever deletes it (Hardening II, class 6).
CREATE OR REPLACE FUNCTION precog_backtest_load_run_entered() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF TG_RELID OPERATOR(pg_catalog.<>) 'public.precog_backtest_loads'::regclass OR TG_LEVEL OPERATOR(pg_catalog.<>) 'ROW' THEN
    RAISE EXCEPTION '[trigger-misplaced] % was made for precog_backtest_loads only: it does not run for %', TG_NAME, TG_RELID::regclass
      USING ERRCODE = '42501', HINT = 'This migration attaches this function where it belongs; attach nothing else to it.';
  END IF;
  IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' AND NEW.backtest_run_id IS DISTINCT FROM public.precog_backtest_run()
     OR TG_OP OPERATOR(pg_catalog.=) 'DELETE' AND OLD.backtest_run_id IS DISTINCT FROM public.precog_backtest_run()
        AND EXISTS (SELECT FROM public.backtest_runs r WHERE r.id OPERATOR(pg_catalog.=) OLD.backtest_run_id) THEN
    RAISE EXCEPTION '[backtest-run] a load is of the run its transaction entered: backtest run % was not entered', CASE WHEN TG_OP = 'INSERT' THEN NEW.backtest_run_id ELSE OLD.backtest_run_id END
      USING ERRCODE = '42501', HINT = 'Enter the run first (SELECT precog_enter_backtest_run(run)), in the same transaction; db.backtests.load does.';
  END IF;
  IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION precog_backtest_load_run_entered() IS
  'BEFORE INSERT OR DELETE on precog_backtest_loads (and nothing else: [trigger-misplaced]): a bulk load is begun and finished by a transaction that entered its run ([backtest-run]). Executable by nobody: the trigger runs it.';
REVOKE ALL ON FUNCTION precog_backtest_load_run_entered() FROM PUBLIC;
