-- BEFORE DELETE on <t>_live only: live rows are real-money history.
CREATE OR REPLACE FUNCTION precog_live_history_kept() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  table_name text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = pg_partition_root(TG_RELID));
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION '[live-history-kept] TRUNCATE of % is refused: it would delete live or paper history', TG_TABLE_NAME
      USING ERRCODE = 'P0001', TABLE = table_name,
            HINT = 'Remove backtest rows with purge_backtest_data(); live rows are never deleted.';
  END IF;
  RAISE EXCEPTION '[live-history-kept] %.execution_environment = live: DELETE of a live row is refused', table_name
    USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'execution_environment',
          HINT = 'Live rows are real-money history and are never deleted; record a correcting row instead. Backtest data is removed with purge_backtest_data().';
END;
$$;
COMMENT ON FUNCTION precog_live_history_kept() IS
  'BEFORE DELETE on the live partition of every tagged table, and BEFORE TRUNCATE on the table and its live and paper partitions: live history is never deleted ([live-history-kept]). Only backtest partitions may be truncated (purge_backtest_data()).';
