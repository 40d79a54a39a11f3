-- A run's partition (run NULL: the DEFAULT one, which refuses every row): guarded, and commented.
CREATE OR REPLACE FUNCTION precog_backtest_run_partition_setup(t regclass, partition regclass, run bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
  PERFORM public.precog_backtest_partition_guarded(t, partition);
  IF run IS NULL THEN
    EXECUTE format('CREATE OR REPLACE TRIGGER backtest_run_required BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION public.precog_backtest_run_required()', partition);
    EXECUTE format('COMMENT ON TABLE %s IS %L', partition,
                   format('Partition of %s for backtest rows without a known run: always empty; such an insert is refused here with [backtest-run-required].', t));
  ELSE
    EXECUTE format('COMMENT ON TABLE %s IS %L', partition,
                   format('Partition of %s: the rows of backtest run %s. Read and written through %s only; dropped with the run (purge_backtest_run).', t, run, t));
  END IF;
END;
$$;
REVOKE ALL ON FUNCTION precog_backtest_run_partition_setup(regclass, regclass, bigint) FROM PUBLIC;
