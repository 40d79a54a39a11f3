-- Deletes at most max_rows rows of deleted runs (then their keys, then their note): bounded work
-- in the caller's transaction, on the backtest partitions only (row locks; no lock a live or
-- paper statement takes). Returns how many rows it deleted: call it again until it returns 0.
-- SECURITY DEFINER: precog_backtest may not delete rows (and sees none of a deleted run); this
-- deletes rows of deleted runs only, read from precog_backtest_runs_deleted.
CREATE OR REPLACE FUNCTION precog_backtest_sweep(max_rows integer DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  run bigint;
  declared record;
  budget bigint := greatest(coalesce(max_rows, 10000), 1);
  deleted bigint := 0;
  n bigint;
BEGIN
  FOR run IN SELECT d.backtest_run_id FROM public.precog_backtest_runs_deleted d ORDER BY d.deleted_at, d.backtest_run_id LOOP
    FOR declared IN SELECT o.table_name FROM public.precog_backtest_delete_order() o LOOP
      EXECUTE format('DELETE FROM %1$s x WHERE x.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT y.ctid FROM %1$s y WHERE y.backtest_run_id OPERATOR(pg_catalog.=) $1 LIMIT $2))',
                     public.precog_environment_partition(format('public.%I', declared.table_name)::regclass, 'backtest'))
        USING run, budget - deleted;
      GET DIAGNOSTICS n = ROW_COUNT;
      deleted := deleted + n;
      IF deleted >= budget THEN
        RETURN deleted; -- more may be left: the next call goes on
      END IF;
    END LOOP;
    DELETE FROM public.precog_environment_keys k
     WHERE k.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT y.ctid FROM public.precog_environment_keys y WHERE y.backtest_run_id OPERATOR(pg_catalog.=) run LIMIT budget - deleted));
    GET DIAGNOSTICS n = ROW_COUNT;
    deleted := deleted + n;
    IF deleted >= budget THEN
      RETURN deleted;
    END IF;
    DELETE FROM public.precog_backtest_runs_deleted d WHERE d.backtest_run_id OPERATOR(pg_catalog.=) run;
  END LOOP;
  RETURN deleted;
END;
$$;
COMMENT ON FUNCTION precog_backtest_sweep(integer) IS
  'Deletes at most max_rows rows of deleted backtest runs (already hidden from every read), referencing tables first, then their keys, then the run''s note in precog_backtest_runs_deleted; returns how many rows it deleted (0: nothing is left). Bounded work per call, each call its own transaction. SECURITY DEFINER: precog_backtest may not delete rows; it deletes rows of deleted runs only. Executable by the owner, precog_backtest and precog_backtest_admin.';
REVOKE ALL ON FUNCTION precog_backtest_sweep(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_sweep(integer) TO precog_backtest, precog_backtest_admin;
