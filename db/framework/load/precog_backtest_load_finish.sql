-- Checks [identity-issued] set-wise (the insert triggers check it for roles only), then inserts
-- each staging table into the backtest partition, a referenced table before those referencing
-- it: the partition's statement triggers check references, keys and the run for the whole set,
-- as for any insert. A refusal rolls the whole load back.
CREATE OR REPLACE FUNCTION precog_backtest_load_finish(run bigint) RETURNS TABLE (table_name text, rows_loaded bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  load public.precog_backtest_loads;
  t regclass;
  staging regclass;
  item record;
  found_key text;
  issued bigint;
  low bigint;
  high bigint;
  columns text;
BEGIN
  IF NOT EXISTS (SELECT FROM public.precog_backtest_loads l WHERE l.backtest_run_id OPERATOR(pg_catalog.=) run) THEN
    RAISE EXCEPTION 'loadRun: no load of backtest run % was begun in this transaction', run
      USING ERRCODE = '55000', HINT = 'Call precog_backtest_load_begin() first, in the same transaction.';
  END IF;
  -- 1. Nothing more is written to the staging tables; every id was issued to this load.
  FOR load IN SELECT * FROM public.precog_backtest_loads l WHERE l.backtest_run_id OPERATOR(pg_catalog.=) run ORDER BY l.table_name LOOP
    t := format('public.%I', load.table_name)::regclass;
    staging := format('public.%I', load.staging_table)::regclass;
    EXECUTE format('REVOKE ALL ON %s FROM precog_backtest', staging);
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', staging);
    FOR item IN
      SELECT a.attname::text AS name, pg_get_serial_sequence(t::text, a.attname) AS sequence FROM pg_attribute a
       WHERE a.attrelid = t AND a.attidentity <> '' AND NOT a.attisdropped
    LOOP
      EXECUTE format('SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM %s s', item.sequence) INTO issued;
      EXECUTE format('SELECT min(%1$I), max(%1$I) FROM %2$s', item.name, staging) INTO low, high;
      IF low <= load.id_floor OR high > issued THEN
        RAISE EXCEPTION '[identity-issued] %.% = % was not issued to this load by the database', load.table_name, item.name, CASE WHEN low <= load.id_floor THEN low ELSE high END
          USING ERRCODE = 'P0001', TABLE = load.table_name, COLUMN = item.name,
                HINT = 'Let the database issue ids: leave the column out of the COPY (or take them from nextval during the load).';
      END IF;
      EXECUTE format('SELECT x.%1$I::text FROM %2$s x WHERE x.%1$I > %3$s AND x.%1$I <= %4$s AND EXISTS (SELECT FROM %5$s s WHERE s.%1$I = x.%1$I) LIMIT 1',
                     item.name, t, load.id_floor, issued, staging) INTO found_key;
      IF found_key IS NOT NULL THEN
        RAISE EXCEPTION '[identity-issued] %.% = % was not issued to this load by the database: another row has it', load.table_name, item.name, found_key
          USING ERRCODE = 'P0001', TABLE = load.table_name, COLUMN = item.name,
                HINT = 'Let the database issue ids: leave the column out of the COPY (or take them from nextval during the load).';
      END IF;
    END LOOP;
  END LOOP;
  -- 2. Into the backtest partition, referenced tables first.
  FOR load IN
    SELECT l.* FROM public.precog_backtest_loads l JOIN public.precog_backtest_delete_order() WITH ORDINALITY o(table_name, n) ON o.table_name OPERATOR(pg_catalog.=) l.table_name
     WHERE l.backtest_run_id OPERATOR(pg_catalog.=) run ORDER BY o.n DESC
  LOOP
    t := format('public.%I', load.table_name)::regclass;
    staging := format('public.%I', load.staging_table)::regclass;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO columns
      FROM pg_attribute a WHERE a.attrelid = staging AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
    EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s', public.precog_environment_partition(t, 'backtest'), columns, columns, staging);
    GET DIAGNOSTICS rows_loaded = ROW_COUNT;
    EXECUTE format('DROP TABLE %s', staging);
    table_name := load.table_name;
    RETURN NEXT;
  END LOOP;
  DELETE FROM public.precog_backtest_loads l WHERE l.backtest_run_id OPERATOR(pg_catalog.=) run;
END;
$$;
COMMENT ON FUNCTION precog_backtest_load_finish(bigint) IS
  'Finishes a bulk load begun by precog_backtest_load_begin(), of the run the transaction entered: checks [identity-issued] set-wise, then inserts each staging table into the backtest partition (referenced tables first), whose statement triggers check references within the run and to shared rows, keys and the run set-wise. A refusal rolls the whole load back. Executable by the owner and precog_backtest.';
REVOKE ALL ON FUNCTION precog_backtest_load_finish(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_load_finish(bigint) TO precog_backtest;
