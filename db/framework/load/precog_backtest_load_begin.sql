-- SECURITY DEFINER: the staging tables are DDL. It creates tables of registered tables' shape
-- only, granted INSERT to precog_backtest for the COPY.
CREATE OR REPLACE FUNCTION precog_backtest_load_begin(run bigint, tables text[])
RETURNS TABLE (table_name text, staging_table text, column_names text[], column_types text[], identity_column text, identity_sequence text, referenced boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  t regclass;
  staging text;
  identity record;
  floor_value bigint;
  has_rows boolean;
BEGIN
  IF NOT EXISTS (SELECT FROM public.backtest_runs r WHERE r.id OPERATOR(pg_catalog.=) run) THEN
    RAISE EXCEPTION 'loadRun: there is no backtest run %', run USING ERRCODE = 'P0002', HINT = 'Create the run first (createBacktestRun).';
  END IF;
  FOREACH table_name IN ARRAY tables LOOP
    IF NOT EXISTS (SELECT FROM public.precog_environment_tables d WHERE d.table_name OPERATOR(pg_catalog.=) table_name) THEN
      RAISE EXCEPTION 'loadRun: % is not an environment-tagged table', table_name
        USING ERRCODE = '42P01', HINT = (SELECT 'Load one of: ' || string_agg(d.table_name, ', ' ORDER BY d.table_name) FROM public.precog_environment_tables d);
    END IF;
    t := format('public.%I', table_name)::regclass;
    EXECUTE format('SELECT EXISTS (SELECT FROM %s x WHERE x.backtest_run_id OPERATOR(pg_catalog.=) $1)', public.precog_environment_partition(t, 'backtest')) INTO has_rows USING run;
    IF has_rows THEN
      RAISE EXCEPTION 'loadRun: backtest run % already has % rows; a run is loaded once, into empty tables', run, table_name
        USING ERRCODE = '55000', HINT = 'Load into a new run (createBacktestRun), or delete this one first (npm run backtests -- delete <id>).';
    END IF;
    staging := left(table_name, 40) || '_run_' || run || '_load';
    EXECUTE format('CREATE TABLE public.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)', staging, t);
    EXECUTE format($q$ALTER TABLE public.%I ALTER COLUMN execution_environment SET DEFAULT 'backtest', ALTER COLUMN backtest_run_id SET DEFAULT %s,
                     ADD CONSTRAINT %I CHECK (execution_environment = 'backtest' AND backtest_run_id = %s)$q$,
                   staging, run, left(table_name, 40) || '_run_' || run || '_bound', run);
    floor_value := NULL;
    FOR identity IN
      SELECT a.attname::text AS name, pg_get_serial_sequence(t::text, a.attname) AS sequence FROM pg_attribute a
       WHERE a.attrelid = t AND a.attidentity <> '' AND NOT a.attisdropped
    LOOP
      EXECUTE format('ALTER TABLE public.%I ALTER COLUMN %I SET DEFAULT pg_catalog.nextval(%L::regclass)', staging, identity.name, identity.sequence);
      EXECUTE format('GRANT USAGE ON SEQUENCE %s TO precog_backtest', identity.sequence);
      EXECUTE format('SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM %s s', identity.sequence) INTO floor_value;
    END LOOP;
    EXECUTE format('REVOKE ALL ON public.%I FROM PUBLIC', staging);
    EXECUTE format('GRANT INSERT ON public.%I TO precog_backtest', staging);
    INSERT INTO public.precog_backtest_loads VALUES (run, table_name, staging, floor_value);
    staging_table := staging;
    SELECT array_agg(a.attname::text ORDER BY a.attnum), array_agg(y.typname::text ORDER BY a.attnum) INTO column_names, column_types
      FROM pg_attribute a JOIN pg_type y ON y.oid = a.atttypid WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped;
    SELECT a.attname::text, pg_get_serial_sequence(t::text, a.attname) INTO identity_column, identity_sequence
      FROM pg_attribute a WHERE a.attrelid = t AND a.attidentity <> '' AND NOT a.attisdropped LIMIT 1;
    -- Rows another table of this load references get their ids before the COPY (from the sequence).
    referenced := EXISTS (SELECT FROM public.precog_environment_references r
                           WHERE r.referenced_table OPERATOR(pg_catalog.=) table_name AND r.same_environment AND r.table_name OPERATOR(pg_catalog.=) ANY (tables));
    RETURN NEXT;
  END LOOP;
END;
$$;
COMMENT ON FUNCTION precog_backtest_load_begin(bigint, text[]) IS
  'Starts a bulk load of a backtest run, the run the transaction entered (precog_enter_backtest_run()): for each named tagged table (which must hold no row of the run), a staging table of its shape without indexes, bound to the run, for COPY; returns its columns and types, its identity and sequence, and whether another table of the load references it. Finish with precog_backtest_load_finish() in the same transaction. Executable by the owner and precog_backtest. SECURITY DEFINER: the staging tables are DDL.';
REVOKE ALL ON FUNCTION precog_backtest_load_begin(bigint, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_load_begin(bigint, text[]) TO precog_backtest;
