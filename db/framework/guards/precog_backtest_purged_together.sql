-- BEFORE TRUNCATE on <t>_backtest: only purge_backtest_data() truncates backtest partitions, all
-- of them in one statement, so a reference between two tagged tables never dangles (there is no
-- foreign key constraint to stop a TRUNCATE of a referenced partition alone).
CREATE OR REPLACE FUNCTION precog_backtest_purged_together() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF current_setting('precog.purging_backtests', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION '[backtest-purged-together] TRUNCATE of % is refused: only purge_backtest_data() empties backtest partitions, every one together, so that no reference is left dangling', TG_TABLE_NAME
      USING ERRCODE = 'P0001', TABLE = (SELECT c.relname::text FROM pg_class c WHERE c.oid = pg_partition_root(TG_RELID)),
            HINT = 'Remove backtest data with SELECT * FROM purge_backtest_data(): it empties every tagged table''s backtest partition together.';
  END IF;
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION precog_backtest_purged_together() IS
  'BEFORE TRUNCATE on the backtest partition of every tagged table: refused ([backtest-purged-together]) unless purge_backtest_data() is truncating every backtest partition together.';
