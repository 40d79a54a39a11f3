-- BEFORE TRUNCATE on <t>_backtest, every run partition and backtest_runs: refused, unless
-- precog_backtest_truncate() (called by purge_backtest_data()) is truncating every backtest
-- partition together in this backend and transaction, as its rows in precog_truncate_permits
-- say. Those rows are written by that function only (the table is granted to nobody); no setting
-- a caller could SET switches the refusal off (Hardening II, class 2). A partition below a
-- permitted one (a run partition of <t>_backtest) is covered by its ancestor's permit.
CREATE OR REPLACE FUNCTION precog_backtest_purged_together() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF EXISTS (SELECT FROM public.precog_truncate_permits p
              WHERE p.backend OPERATOR(pg_catalog.=) pg_backend_pid()
                AND p.transaction OPERATOR(pg_catalog.=) pg_current_xact_id()
                AND p.relation IN (SELECT a FROM pg_partition_ancestors(TG_RELID) a)) THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION '[backtest-purged-together] TRUNCATE of % is refused: backtest rows go only with their run, so that no reference is left dangling', TG_TABLE_NAME
    USING ERRCODE = 'P0001', TABLE = (SELECT c.relname::text FROM pg_class c WHERE c.oid = coalesce(pg_partition_root(TG_RELID), TG_RELID)),
          HINT = 'Delete the run (db.backtests.delete; SQL: DELETE FROM backtest_runs, as precog_backtest_admin), or every run with purge_backtest_data().';
END;
$$;
COMMENT ON FUNCTION precog_backtest_purged_together() IS
  'BEFORE TRUNCATE on the backtest partitions of every tagged table and on backtest_runs: refused ([backtest-purged-together]) but for the one TRUNCATE of every backtest partition by precog_backtest_truncate() (purge_backtest_data()), vouched for by its rows in precog_truncate_permits, which no role can write; no setting switches it off. Executable by nobody: triggers run it.';
REVOKE ALL ON FUNCTION precog_backtest_purged_together() FROM PUBLIC;
