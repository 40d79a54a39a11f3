-- BEFORE TRUNCATE on <t>_backtest, every run partition and backtest_runs: always refused. A run's
-- rows go with the run (its partitions detached), so no TRUNCATE is ever needed, and no setting
-- a caller could SET switches the refusal off (Hardening II, class 2).
CREATE OR REPLACE FUNCTION precog_backtest_purged_together() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RAISE EXCEPTION '[backtest-purged-together] TRUNCATE of % is refused: backtest rows go only with their run, so that no reference is left dangling', TG_TABLE_NAME
    USING ERRCODE = 'P0001', TABLE = (SELECT c.relname::text FROM pg_class c WHERE c.oid = coalesce(pg_partition_root(TG_RELID), TG_RELID)),
          HINT = 'Delete the run (db.backtests.delete; SQL: DELETE FROM backtest_runs, as precog_backtest_admin), or every run with purge_backtest_data().';
END;
$$;
COMMENT ON FUNCTION precog_backtest_purged_together() IS
  'BEFORE TRUNCATE on the backtest partitions of every tagged table and on backtest_runs: always refused ([backtest-purged-together]); no setting switches it off. A run''s rows go with the run. Executable by nobody: triggers run it.';
REVOKE ALL ON FUNCTION precog_backtest_purged_together() FROM PUBLIC;
