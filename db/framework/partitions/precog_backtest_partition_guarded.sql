-- What <t>_backtest and every partition below it have: no grants, row-level security without
-- policies (read and written through <t> only), ids from <t>'s sequence before PostgreSQL 17 (a
-- partition does not inherit its table's identity there, as in 000010), TRUNCATE only by the purge.
CREATE OR REPLACE FUNCTION precog_backtest_partition_guarded(t regclass, partition regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  column_name text;
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', partition);
  EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, precog_live, precog_paper, precog_backtest, precog_analyst', partition);
  FOR column_name IN
    SELECT a.attname FROM pg_attribute a JOIN pg_attribute p ON p.attrelid = partition AND p.attname = a.attname
     WHERE a.attrelid = t AND a.attidentity <> '' AND p.attidentity = '' AND NOT p.atthasdef
  LOOP
    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT pg_catalog.nextval(%L::regclass)', partition, column_name, pg_get_serial_sequence(t::text, column_name));
  END LOOP;
  EXECUTE format('CREATE OR REPLACE TRIGGER backtest_purged_together BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION public.precog_backtest_purged_together()', partition);
END;
$$;
REVOKE ALL ON FUNCTION precog_backtest_partition_guarded(regclass, regclass) FROM PUBLIC;
