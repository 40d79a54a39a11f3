-- SECURITY DEFINER: it indexes, validates and attaches the staging tables (DDL), reading the
-- registry for what to check. Every rule a row-by-row insert would meet is checked set-wise.
CREATE OR REPLACE FUNCTION precog_backtest_load_finish(run bigint) RETURNS TABLE (table_name text, rows_loaded bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  load public.precog_backtest_loads;
  declared public.precog_environment_tables;
  ref public.precog_environment_references;
  t regclass;
  staging regclass;
  backtest regclass;
  item record;
  found_key text;
  target text;
  key_expression text;
  issued bigint;
  low bigint;
  high bigint;
BEGIN
  PERFORM set_config('maintenance_work_mem', '256MB', true);
  IF NOT EXISTS (SELECT FROM public.precog_backtest_loads l WHERE l.backtest_run_id OPERATOR(pg_catalog.=) run) THEN
    RAISE EXCEPTION 'loadRun: no load of backtest run % was begun in this transaction', run
      USING ERRCODE = '55000', HINT = 'Call precog_backtest_load_begin() first, in the same transaction.';
  END IF;
  -- 1. Nothing more is written to the staging tables; each gets its table's indexes.
  FOR load IN SELECT * FROM public.precog_backtest_loads l WHERE l.backtest_run_id OPERATOR(pg_catalog.=) run ORDER BY l.table_name LOOP
    staging := format('public.%I', load.staging_table)::regclass;
    EXECUTE format('REVOKE ALL ON %s FROM precog_backtest', staging);
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', staging);
    backtest := public.precog_environment_partition(format('public.%I', load.table_name)::regclass, 'backtest');
    FOR item IN
      SELECT i.indexrelid, c.relname::text AS index_name, pg_get_indexdef(i.indexrelid) AS def, k.conname::text AS constraint_name, pg_get_constraintdef(k.oid) AS constraint_def
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = backtest
       WHERE i.indrelid = backtest ORDER BY c.relname
    LOOP
      IF item.constraint_name IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', staging, left(item.constraint_name, 48) || '_run_' || run, item.constraint_def);
      ELSE
        EXECUTE regexp_replace(item.def, '^CREATE (UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ USING',
                               format('CREATE \1INDEX %I ON %s USING', left(item.index_name, 48) || '_run_' || run, staging));
      END IF;
    END LOOP;
  END LOOP;
  -- 2. Every rule, set-wise.
  FOR load IN SELECT * FROM public.precog_backtest_loads l WHERE l.backtest_run_id OPERATOR(pg_catalog.=) run ORDER BY l.table_name LOOP
    t := format('public.%I', load.table_name)::regclass;
    staging := format('public.%I', load.staging_table)::regclass;
    SELECT * INTO declared FROM public.precog_environment_tables d WHERE d.table_name OPERATOR(pg_catalog.=) load.table_name;
    -- [identity-issued]: ids the sequence issued during this load, to no other row.
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
    -- [environment-immutable]: a versioned key belongs to one environment and one run.
    IF declared.kind = 'versioned' AND NOT 'execution_environment' = ANY (declared.business_key) THEN
      key_expression := CASE cardinality(declared.business_key) WHEN 1 THEN format('(s.%I)::text', declared.business_key[1])
        ELSE format('(SELECT jsonb_agg(to_jsonb(s) -> c ORDER BY i)::text FROM unnest(%L::text[]) WITH ORDINALITY k(c, i))', declared.business_key) END;
      EXECUTE format($q$INSERT INTO public.precog_environment_keys (table_name, business_key, environment, backtest_run_id)
                        SELECT DISTINCT %L, %s, 'backtest'::public.execution_environment, %s FROM %s s ON CONFLICT ON CONSTRAINT precog_environment_keys_pkey DO NOTHING$q$,
                     load.table_name, key_expression, run, staging);
      EXECUTE format($q$SELECT k.business_key FROM public.precog_environment_keys k
                         WHERE k.table_name = %L AND (k.environment <> 'backtest' OR k.backtest_run_id IS DISTINCT FROM %s)
                           AND k.business_key IN (SELECT %s FROM %s s) LIMIT 1$q$, load.table_name, run, key_expression, staging) INTO found_key;
      IF found_key IS NOT NULL THEN
        RAISE EXCEPTION '[environment-immutable] %.execution_environment cannot change across versions of %: it belongs to another environment or backtest run than backtest (run %)', load.table_name, found_key, run
          USING ERRCODE = 'P0001', TABLE = load.table_name, COLUMN = 'execution_environment',
                HINT = 'Use new keys for a run''s positions (loadRun issues them from the key sequence).';
      END IF;
    END IF;
    -- References: to shared rows (locked FOR KEY SHARE, as a foreign key would), and to rows
    -- of the same run (in this load's staging tables, or already in the run).
    FOR ref IN SELECT * FROM public.precog_environment_references r WHERE r.table_name OPERATOR(pg_catalog.=) load.table_name ORDER BY r.columns LOOP
      IF ref.same_environment THEN
        target := coalesce((SELECT format('public.%I', l.staging_table) FROM public.precog_backtest_loads l
                             WHERE l.backtest_run_id OPERATOR(pg_catalog.=) run AND l.table_name OPERATOR(pg_catalog.=) ref.referenced_table),
                           format('(SELECT * FROM public.%I x WHERE x.execution_environment = ''backtest'' AND x.backtest_run_id = %s)', ref.referenced_table, run));
      ELSE
        target := format('public.%I', ref.referenced_table);
        EXECUTE format('SELECT count(*) FROM (SELECT FROM %s r WHERE (%s) IN (SELECT DISTINCT %s FROM %s n WHERE %s) FOR KEY SHARE OF r) locked',
                       target,
                       (SELECT string_agg(format('r.%I', k), ', ' ORDER BY i) FROM unnest(ref.referenced_columns) WITH ORDINALITY x(k, i)),
                       (SELECT string_agg(format('n.%I', c), ', ' ORDER BY i) FROM unnest(ref.columns) WITH ORDINALITY x(c, i)),
                       staging,
                       (SELECT string_agg(format('n.%I IS NOT NULL', c), ' AND ' ORDER BY i) FROM unnest(ref.columns) WITH ORDINALITY x(c, i)));
      END IF;
      EXECUTE format('SELECT concat_ws('', '', %s) FROM %s n WHERE %s AND NOT EXISTS (SELECT FROM %s r WHERE %s) LIMIT 1',
                     (SELECT string_agg(format('n.%I', c), ', ' ORDER BY i) FROM unnest(ref.columns) WITH ORDINALITY x(c, i)),
                     staging,
                     (SELECT string_agg(format('n.%I IS NOT NULL', c), ' AND ' ORDER BY i) FROM unnest(ref.columns) WITH ORDINALITY x(c, i)),
                     target,
                     (SELECT string_agg(format('r.%I = n.%I', k, c), ' AND ' ORDER BY i) FROM unnest(ref.columns, ref.referenced_columns) WITH ORDINALITY x(c, k, i)))
        INTO found_key;
      IF found_key IS NOT NULL THEN
        IF ref.same_environment THEN
          RAISE EXCEPTION '[backtest-run-cross-reference] % (%) = (%) refers to no row of % in backtest run %: a row references only rows of its own run', load.table_name, array_to_string(ref.columns, ', '), found_key, ref.referenced_table, run
            USING ERRCODE = 'P0001', TABLE = load.table_name, COLUMN = ref.columns[1],
                  HINT = 'Reference rows loaded in the same call, or written in the same run before.';
        END IF;
        RAISE EXCEPTION '% (%) = (%) refers to no % row', load.table_name, array_to_string(ref.columns, ', '), found_key, ref.referenced_table
          USING ERRCODE = '23503', TABLE = load.table_name, COLUMN = ref.columns[1], HINT = 'Write the referenced row first.';
      END IF;
    END LOOP;
  END LOOP;
  -- 3. Visible at once: each staging table replaces the run's empty partition.
  FOR load IN SELECT * FROM public.precog_backtest_loads l WHERE l.backtest_run_id OPERATOR(pg_catalog.=) run ORDER BY l.table_name LOOP
    t := format('public.%I', load.table_name)::regclass;
    staging := format('public.%I', load.staging_table)::regclass;
    backtest := public.precog_environment_partition(t, 'backtest');
    target := (SELECT c.relname::text FROM pg_class c WHERE c.oid = public.precog_backtest_run_partition(t, run));
    EXECUTE format('DROP TABLE public.%I', target);
    EXECUTE format('ALTER TABLE %s RENAME TO %I', staging, target);
    staging := format('public.%I', target)::regclass;
    -- The staging table's bound CHECK spares the attach its scan; the partition bound replaces it.
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES IN (%s)', backtest, staging, run);
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', staging, left(load.table_name, 40) || '_run_' || run || '_bound');
    FOR item IN SELECT a.attname FROM pg_attribute a WHERE a.attrelid = staging AND a.attname IN ('execution_environment', 'backtest_run_id') LOOP
      EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT', staging, item.attname);
    END LOOP;
    PERFORM public.precog_backtest_run_partition_setup(t, staging, run);
    table_name := load.table_name;
    EXECUTE format('SELECT c.reltuples::bigint FROM pg_class c WHERE c.oid = %s', staging::oid) INTO rows_loaded;
    RETURN NEXT;
  END LOOP;
  DELETE FROM public.precog_backtest_loads l WHERE l.backtest_run_id OPERATOR(pg_catalog.=) run;
END;
$$;
COMMENT ON FUNCTION precog_backtest_load_finish(bigint) IS
  'Finishes a bulk load begun by precog_backtest_load_begin(), of the run the transaction entered: builds each staging table''s indexes, checks every rule set-wise ([identity-issued], [environment-immutable] keys, references within the run and to shared rows, locked FOR KEY SHARE), then attaches each as the run''s partition. A refusal rolls the whole load back. Executable by the owner and precog_backtest. SECURITY DEFINER: it indexes and attaches tables (DDL).';
REVOKE ALL ON FUNCTION precog_backtest_load_finish(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_load_finish(bigint) TO precog_backtest;
