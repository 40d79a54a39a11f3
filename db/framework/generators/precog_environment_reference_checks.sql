-- Generates, for table t, the statement-level check of its references and the delete guard of
-- the rows referenced into it, as static SQL (plans cached per session):
--   precog_references_<t>()   AFTER INSERT (and UPDATE of a mutable reference column) FOR EACH
--                             STATEMENT, on t and on each partition: locks the distinct
--                             referenced rows FOR KEY SHARE (as a foreign key does, once per
--                             key rather than per row), then refuses any reference to a row
--                             that is not in the referencing row's own environment
--                             ([environment-cross-reference]) or run ([backtest-run-cross-reference]).
--   precog_referenced_<t>()   BEFORE DELETE OR UPDATE OF its key FOR EACH ROW on t (tagged or
--                             shared): a referenced row is kept, and so is its key.
-- Every check names the referenced environment as a constant (the planner then reads only that
-- environment's partition, however many runs there are), and backtest rows are checked run by
-- run. SECURITY DEFINER, as PostgreSQL's own foreign key checks run as the table owner: the check
-- must see and lock the referenced rows whatever the caller may read or update. The bodies read
-- only tables of the registry, with a pinned search_path.
CREATE OR REPLACE FUNCTION precog_environment_reference_checks(table_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $gen$
#variable_conflict use_variable
DECLARE
  t regclass := format('public.%I', table_name)::regclass;
  checks text := '';
  guards text := '';
  ref public.precog_environment_references;
  declared public.precog_environment_tables;
  on_update boolean := false;
  partition record;
  key_of text;
  pairs text;
  not_null text;
  referenced_keys text;
  constraint_name text;
  env text;
  lock_query text;
  missing_query text;
  check_function text := left('precog_references_' || table_name, 63);
  placement text := public.precog_trigger_placement(table_name);
  guard_function text := left('precog_referenced_' || table_name, 63);
BEGIN
  SELECT * INTO declared FROM public.precog_environment_tables d WHERE d.table_name = table_name;
  FOR ref IN SELECT * FROM public.precog_environment_references r WHERE r.table_name = table_name AND NOT r.same_environment ORDER BY r.columns LOOP
    on_update := on_update OR coalesce(declared.mutable_columns && ref.columns, false);
    key_of := public.precog_sql_list(ref.columns, 'n.%I', ', ');
    not_null := public.precog_sql_list(ref.columns, 'n.%I IS NOT NULL', ' AND ');
    checks := checks || format($body$
  -- (%1$s) -> %2$s (%3$s)
  PERFORM FROM public.%2$I r WHERE (%4$s) IN (SELECT %5$s FROM new_rows n WHERE %6$s) FOR KEY SHARE OF r;
  SELECT format('(%1$s) = (%%s)', concat_ws(', ', %5$s)) AS key INTO missing
    FROM new_rows n
   WHERE %6$s AND NOT EXISTS (SELECT FROM public.%2$I r WHERE %7$s)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '%8$s %% refers to no %2$s row', missing.key
      USING ERRCODE = '23503', TABLE = %8$L, COLUMN = %9$L, CONSTRAINT = %10$L,
            HINT = 'Write the referenced row first.';
  END IF;
$body$, array_to_string(ref.columns, ', '), ref.referenced_table, array_to_string(ref.referenced_columns, ', '),
        public.precog_sql_list(ref.referenced_columns, 'r.%I', ', '),
        key_of, not_null,
        public.precog_sql_pairs(ref.referenced_columns, ref.columns, 'r.%I = n.%I', ' AND '),
        table_name, ref.columns[1], left(table_name || '_' || array_to_string(ref.columns, '_') || '_reference', 63));
  END LOOP;
  FOR ref IN SELECT * FROM public.precog_environment_references r WHERE r.table_name = table_name AND r.same_environment ORDER BY r.columns LOOP
    on_update := on_update OR coalesce(declared.mutable_columns && ref.columns, false);
    key_of := public.precog_sql_list(ref.columns, 'n.%I', ', ');
    referenced_keys := public.precog_sql_list(ref.referenced_columns, 'r.%I', ', ');
    pairs := public.precog_sql_pairs(ref.referenced_columns, ref.columns, 'r.%I = n.%I', ' AND ');
    not_null := public.precog_sql_list(ref.columns, 'n.%I IS NOT NULL', ' AND ');
    constraint_name := left(table_name || '_' || array_to_string(ref.columns, '_') || '_reference', 63);
    -- Live and paper: static SQL, one environment at a time.
    FOREACH env IN ARRAY array_remove(enum_range(NULL::public.execution_environment)::text[], 'backtest') LOOP
      checks := checks || format($body$
  -- (%1$s, execution_environment) -> %2$s (%3$s, execution_environment), %11$s rows
  PERFORM FROM public.%2$I r WHERE r.execution_environment = %11$L AND (%4$s) IN (SELECT %5$s FROM new_rows n WHERE n.execution_environment = %11$L AND %6$s) FOR KEY SHARE OF r;
  SELECT format('(%1$s) = (%%s)', concat_ws(', ', %5$s)) AS key, n.execution_environment AS environment
    INTO missing
    FROM new_rows n
   WHERE n.execution_environment = %11$L AND %6$s AND NOT EXISTS (SELECT FROM public.%2$I r WHERE r.execution_environment = %11$L AND %7$s)
   LIMIT 1;
  -- One message whether the row is missing or of another environment: a role must not learn
  -- from a refusal that a row it cannot see exists elsewhere.
  IF FOUND THEN
    RAISE EXCEPTION '[environment-cross-reference] %8$s %% refers to no %% row of %2$s: a row references only rows of its own environment', missing.key, missing.environment
      USING ERRCODE = 'P0001', TABLE = %8$L, COLUMN = %9$L, CONSTRAINT = %10$L,
            HINT = 'Reference a row of the same environment (written first), or write this row in the environment of the row it references.';
  END IF;
$body$, array_to_string(ref.columns, ', '), ref.referenced_table, array_to_string(ref.referenced_columns, ', '),
          referenced_keys, key_of, not_null, pairs, table_name, ref.columns[1], constraint_name, env);
    END LOOP;
    -- Backtest: run by run, each with its run as a constant (the planner reads that run's
    -- partition only). {run} is replaced by the run's id.
    lock_query := format($q$SELECT count(*) FROM (SELECT FROM public.%1$I r WHERE r.execution_environment = 'backtest' AND r.backtest_run_id = {run} AND (%2$s) IN (SELECT %3$s FROM new_rows n WHERE n.execution_environment = 'backtest' AND n.backtest_run_id = {run} AND %4$s) FOR KEY SHARE OF r) locked$q$,
                         ref.referenced_table, referenced_keys, key_of, not_null);
    missing_query := format($q$SELECT concat_ws(', ', %1$s) FROM new_rows n WHERE n.execution_environment = 'backtest' AND n.backtest_run_id = {run} AND %2$s AND NOT EXISTS (SELECT FROM public.%3$I r WHERE r.execution_environment = 'backtest' AND r.backtest_run_id = {run} AND %4$s) LIMIT 1$q$,
                            key_of, not_null, ref.referenced_table, pairs);
    checks := checks || format($body$
  -- (%1$s, execution_environment, backtest_run_id) -> %2$s (%3$s, execution_environment, backtest_run_id), backtest rows, run by run
  FOR run IN SELECT DISTINCT n.backtest_run_id FROM new_rows n WHERE n.execution_environment = 'backtest' AND %4$s LOOP
    EXECUTE replace(%5$L, '{run}', run::text);
    EXECUTE replace(%6$L, '{run}', run::text) INTO missing_key;
    IF missing_key IS NOT NULL THEN
      -- One message whether the row is in another run, another environment or nowhere: a run
      -- scope must not learn from a refusal that a row it cannot see exists (Hardening II, class 7).
      RAISE EXCEPTION '[backtest-run-cross-reference] %7$s (%1$s) = (%%) of backtest run %% refers to no row of %2$s in its run: a row references only rows of its own run', missing_key, run
        USING ERRCODE = 'P0001', TABLE = %7$L, COLUMN = %8$L, CONSTRAINT = %9$L,
              HINT = 'Reference a row written in the same backtest run (the scope''s run), written first.';
    END IF;
  END LOOP;
$body$, array_to_string(ref.columns, ', '), ref.referenced_table, array_to_string(ref.referenced_columns, ', '), not_null,
        lock_query, missing_query, table_name, ref.columns[1], constraint_name,
        referenced_keys,
        (SELECT string_agg(format('v.k[%s]::%s', i, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY i)
           FROM unnest(ref.referenced_columns) WITH ORDINALITY x(k, i)
           JOIN pg_attribute a ON a.attrelid = format('public.%I', ref.referenced_table)::regclass AND a.attname = x.k));
  END LOOP;
  -- A referenced row is kept: not deleted, and its key not changed (a shared table's can be).
  FOR ref IN SELECT * FROM public.precog_environment_references r WHERE r.referenced_table = table_name ORDER BY r.table_name, r.columns LOOP
    guards := guards || format($body$
  IF (TG_OP = 'DELETE' OR (%8$s) IS DISTINCT FROM (%9$s))
     AND EXISTS (SELECT FROM public.%1$I t WHERE %2$s%10$s) THEN
    RAISE EXCEPTION '%3$s row (%4$s) = (%%) is referenced by %1$s (%5$s); it is kept', concat_ws(', ', %6$s)
      USING ERRCODE = '23503', TABLE = %3$L, CONSTRAINT = %7$L,
            HINT = 'Delete the referencing rows first (backtest data: delete the backtest run, purge_backtest_run(), which removes every tagged table''s rows of the run together).';
  END IF;
$body$, ref.table_name,
        public.precog_sql_pairs(ref.columns, ref.referenced_columns, 't.%I = OLD.%I', ' AND '),
        table_name, array_to_string(ref.referenced_columns, ', '), array_to_string(ref.columns, ', '),
        public.precog_sql_list(ref.referenced_columns, 'OLD.%I', ', '),
        left(ref.table_name || '_' || array_to_string(ref.columns, '_') || '_reference', 63),
        public.precog_sql_list(ref.referenced_columns, 'OLD.%I', ', '),
        public.precog_sql_list(ref.referenced_columns, 'NEW.%I', ', '),
        CASE WHEN ref.same_environment THEN ' AND t.execution_environment = OLD.execution_environment AND t.backtest_run_id IS NOT DISTINCT FROM OLD.backtest_run_id' ELSE '' END);
  END LOOP;

  -- The triggers go first: a function is dropped only once nothing uses it.
  FOR partition IN SELECT t AS relation UNION ALL SELECT i.inhrelid::regclass FROM pg_inherits i WHERE i.inhparent = t LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS environment_references ON %s', partition.relation);
    EXECUTE format('DROP TRIGGER IF EXISTS environment_references_update ON %s', partition.relation);
  END LOOP;
  EXECUTE format('DROP TRIGGER IF EXISTS environment_referenced ON %s', t);
  IF checks <> '' THEN
    -- enable_seqscan off: a run's partition just made has no statistics, and the planner, taking
    -- it for a few pages, would scan it once per new row (a nested loop: 10,000 trades into a
    -- fresh run took 261 ms, 20,000 took 10 s); every referenced key has an index to probe.
    EXECUTE format($f$CREATE OR REPLACE FUNCTION public.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET enable_seqscan = off AS $body$
DECLARE
  missing record;
  missing_key text;
  run bigint;
BEGIN%s%s
  RETURN NULL;
END;
$body$$f$, check_function, placement, checks);
    EXECUTE format('REVOKE ALL ON FUNCTION public.%I() FROM PUBLIC', check_function);
    EXECUTE format('COMMENT ON FUNCTION public.%I() IS %L', check_function,
                   format('Generated by precog_environment_table(): AFTER INSERT FOR EACH STATEMENT on %s and its partitions, the references of precog_environment_references: every reference is to a row of the same environment ([environment-cross-reference]) and, for backtest rows, of the same run ([backtest-run-cross-reference]); it runs for that table only ([trigger-misplaced]). SECURITY DEFINER, as foreign key checks run as the owner. Executable by nobody: triggers run it.', table_name));
    -- On the table for writes through it, and on each partition for the owner's direct writes
    -- (statement triggers fire only for the table a statement names).
    FOR partition IN SELECT t AS relation UNION ALL SELECT i.inhrelid::regclass FROM pg_inherits i WHERE i.inhparent = t LOOP
      EXECUTE format('CREATE TRIGGER environment_references AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.%I()', partition.relation, check_function);
      IF on_update THEN
        EXECUTE format('CREATE TRIGGER environment_references_update AFTER UPDATE ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.%I()', partition.relation, check_function);
      END IF;
    END LOOP;
  ELSE
    EXECUTE format('DROP FUNCTION IF EXISTS public.%I()', check_function);
  END IF;
  IF guards <> '' THEN
    EXECUTE format($f$CREATE OR REPLACE FUNCTION public.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
BEGIN%s%s
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END;
$body$$f$, guard_function, placement, guards);
    EXECUTE format('REVOKE ALL ON FUNCTION public.%I() FROM PUBLIC', guard_function);
    EXECUTE format('COMMENT ON FUNCTION public.%I() IS %L', guard_function,
                   format('Generated by precog_environment_table(): BEFORE DELETE OR UPDATE on %s, a row that a tagged table references (precog_environment_references) is kept, and so is its key; it runs for that table only ([trigger-misplaced]). SECURITY DEFINER, as foreign key checks run as the owner. Executable by nobody: triggers run it.', table_name));
    EXECUTE format('CREATE TRIGGER environment_referenced BEFORE DELETE OR UPDATE OF %s ON %s FOR EACH ROW EXECUTE FUNCTION public.%I()',
                   (SELECT string_agg(DISTINCT quote_ident(k), ', ') FROM public.precog_environment_references r, unnest(r.referenced_columns) k WHERE r.referenced_table = table_name), t, guard_function);
  ELSE
    EXECUTE format('DROP FUNCTION IF EXISTS public.%I()', guard_function);
  END IF;
END;
$gen$;
COMMENT ON FUNCTION precog_environment_reference_checks(text) IS
  'Used by precog_environment_table(): (re)generates the statement-level reference checks of a tagged table and the delete guard of the rows referenced into it, from precog_environment_references.';
REVOKE ALL ON FUNCTION precog_environment_reference_checks(text) FROM PUBLIC;
