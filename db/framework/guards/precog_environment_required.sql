-- BEFORE INSERT on <t>_environment_missing only: a row without an environment.
CREATE OR REPLACE FUNCTION precog_environment_required() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  table_name text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = pg_partition_root(TG_RELID));
BEGIN
  RAISE EXCEPTION '[environment-required] %.execution_environment is required (got NULL): every row names where it executed', table_name
    USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'execution_environment',
          HINT = 'Pass execution_environment explicitly (live, paper or backtest). There is no default: a ''live'' default is how simulated positions became real-money ones (precog bug #662); a new SCD version copies it forward from the current version.';
END;
$$;
COMMENT ON FUNCTION precog_environment_required() IS
  'BEFORE INSERT on the <t>_environment_missing partition of every tagged table: refuses a row without execution_environment with [environment-required], before NOT NULL or a policy can refuse it namelessly. Rows that name their environment never reach it.';
