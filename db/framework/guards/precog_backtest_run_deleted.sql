-- BEFORE DELETE on backtest_runs: the run's rows go with it, every tagged table's partition
-- detached and moved to precog_purged (constant time, whatever the run's size). It refuses to run
-- for anything else ([trigger-misplaced]): a login attaching it to a table of its own could wipe any run.
-- SECURITY DEFINER: DETACH is the owner's; it detaches partitions of registered tables for this run only.
CREATE OR REPLACE FUNCTION precog_backtest_run_deleted() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  declared record;
  partition regclass;
BEGIN
  IF TG_RELID OPERATOR(pg_catalog.<>) 'public.backtest_runs'::regclass OR TG_OP OPERATOR(pg_catalog.<>) 'DELETE' OR TG_LEVEL OPERATOR(pg_catalog.<>) 'ROW' OR TG_WHEN OPERATOR(pg_catalog.<>) 'BEFORE' THEN
    RAISE EXCEPTION '[trigger-misplaced] % was made for deletes of backtest_runs only: it does not run for %', TG_NAME, TG_RELID::regclass
      USING ERRCODE = '42501', HINT = 'Migration 000013 attaches this function where it belongs; attach nothing else to it.';
  END IF;
  FOR declared IN SELECT d.table_name FROM public.precog_environment_tables d ORDER BY d.table_name LOOP
    partition := public.precog_backtest_run_partition(format('public.%I', declared.table_name)::regclass, OLD.id);
    IF partition IS NOT NULL THEN
      EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', public.precog_environment_partition(format('public.%I', declared.table_name)::regclass, 'backtest'), partition);
      EXECUTE format('ALTER TABLE %s SET SCHEMA precog_purged', partition);
    END IF;
  END LOOP;
  DELETE FROM public.precog_environment_keys k WHERE k.backtest_run_id OPERATOR(pg_catalog.=) OLD.id;
  RETURN OLD;
END;
$$;
COMMENT ON FUNCTION precog_backtest_run_deleted() IS
  'BEFORE DELETE on backtest_runs (and nothing else: [trigger-misplaced]): detaches the run''s partition of every tagged table (its rows, in constant time) into precog_purged, where precog_backtest_sweep() drops it, and deletes its versioned keys. Every other run, and live and paper, are untouched. SECURITY DEFINER: DETACH is the owner''s. Executable by nobody: the trigger runs it.';
REVOKE ALL ON FUNCTION precog_backtest_run_deleted() FROM PUBLIC;
