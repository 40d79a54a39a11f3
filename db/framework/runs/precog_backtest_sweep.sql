-- SECURITY DEFINER: DROP is the owner's; it drops tables of precog_purged only.
CREATE OR REPLACE FUNCTION precog_backtest_sweep() RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  purged record;
  dropped integer := 0;
BEGIN
  FOR purged IN SELECT c.oid::regclass AS relation FROM pg_class c WHERE c.relnamespace = 'precog_purged'::regnamespace AND c.relkind = 'r' ORDER BY c.relname LOOP
    EXECUTE format('DROP TABLE IF EXISTS %s', purged.relation); -- a concurrent sweep may have dropped it
    dropped := dropped + 1;
  END LOOP;
  RETURN dropped;
END;
$$;
COMMENT ON FUNCTION precog_backtest_sweep() IS
  'Drops the partitions of deleted backtest runs (schema precog_purged), removing their files; returns how many tables it dropped. Executable by the owner, precog_backtest and precog_backtest_admin. SECURITY DEFINER: DROP is the owner''s; it drops tables of precog_purged only.';
REVOKE ALL ON FUNCTION precog_backtest_sweep() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_sweep() TO precog_backtest, precog_backtest_admin;
