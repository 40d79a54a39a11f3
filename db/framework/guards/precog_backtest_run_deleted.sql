-- BEFORE DELETE on backtest_runs: the run is noted as deleted; its rows are gone from every read
-- at once (the policies) and deleted by precog_backtest_sweep() afterwards.
-- SECURITY DEFINER: precog_backtest_runs_deleted is granted to nobody for writing; it notes the deleted run only.
CREATE OR REPLACE FUNCTION precog_backtest_run_deleted() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  INSERT INTO public.precog_backtest_runs_deleted (backtest_run_id) VALUES (OLD.id) ON CONFLICT DO NOTHING;
  RETURN OLD;
END;
$$;
COMMENT ON FUNCTION precog_backtest_run_deleted() IS
  'BEFORE DELETE on backtest_runs: notes the run in precog_backtest_runs_deleted (one row, whatever the run''s size); its rows are hidden from every read at once and deleted by precog_backtest_sweep(). Every other run, and live and paper, are untouched.';
