-- Hardening II (issue 22): no login can reach past its environment or run, whatever function,
-- setting or partition it uses.
--
--   class  what                                   now
--   -----  -------------------------------------  ----------------------------------------------
--   1      owner-rights and trigger functions     EXECUTE revoked from PUBLIC, granted only to
--          anyone could call (a temporary table   the roles a function's comment names
--          with a trigger calling them)           (precog_function_privileges(), run by every
--                                                 declaration); every SECURITY DEFINER trigger
--                                                 function refuses a table it was not made for
--                                                 ([trigger-misplaced])
--   2      guards trusting a caller's SET         the identity mark lives in precog_identity_marks
--                                                 (no caller writes it); no setting lets a backtest
--                                                 partition or the runs be truncated; a run is
--                                                 entered per transaction through
--                                                 precog_enter_backtest_run(), recorded where no
--                                                 caller writes, so neither a SET nor a run left on
--                                                 a pooled connection opens one
--   6      any backtest process deleting,         deleting a run and purging every run is
--          purging, relabelling, loading,         precog_backtest_admin's (and the owner's); a
--          entering any run                       backtest login reads, relabels, enters and loads
--                                                 the runs it created, and loads only the run its
--                                                 transaction entered
--   7      refusals and reads revealing other     a reference into another run is refused as a
--          runs                                   reference to no row; precog_backtest reads only
--                                                 its own runs in backtest_runs
--
-- Classes 3 and 4 (side doors into run partitions, the bulk load against concurrent writers) and
-- class 5 (keys squatted ahead of live) are not fixed here: see the README's Guarantees.

--------------------------------------------------------------------------------
-- 0. A role for deleting runs
--------------------------------------------------------------------------------
-- Roles are server-wide: another database of the server may have made it already.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'precog_backtest_admin') THEN
    CREATE ROLE precog_backtest_admin NOLOGIN;
  END IF;
END
$$;
COMMENT ON ROLE precog_backtest_admin IS
  'Deletes backtest runs (any run) and purges every run: DELETE on backtest_runs, purge_backtest_run(), purge_backtest_data(). A backtest process (precog_backtest) cannot.';
GRANT USAGE ON SCHEMA public TO precog_backtest_admin;

--------------------------------------------------------------------------------
-- 1. A trigger function runs for the table it was made for
--------------------------------------------------------------------------------
-- The PL/pgSQL a generated trigger function begins with: it refuses to run for any table but
-- table_name (or a partition of it). Without it, the owner (who can attach any function) could
-- fire an owner-rights guard on a decoy table of its own.
CREATE FUNCTION precog_trigger_placement(table_name text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT format($p$
  IF coalesce(pg_catalog.pg_partition_root(TG_RELID), TG_RELID) OPERATOR(pg_catalog.<>) %1$L::pg_catalog.regclass THEN
    RAISE EXCEPTION '[trigger-misplaced] %% was made for %% only: it does not run for %%', TG_NAME, %1$L, TG_RELID::pg_catalog.regclass
      USING ERRCODE = '42501', HINT = 'precog_environment_table() attaches this function where it belongs; attach nothing else to it.';
  END IF;$p$, 'public.' || quote_ident(table_name))
$$;
COMMENT ON FUNCTION precog_trigger_placement(text) IS
  'Used by the generators of precog_environment_table(): the first statement of every generated trigger function, refusing to run for a table it was not made for ([trigger-misplaced]).';
REVOKE ALL ON FUNCTION precog_trigger_placement(text) FROM PUBLIC;

-- The key guard of 000013, placed: it runs for a declared versioned table (from the registry,
-- not the name a table has) with that table's business key, and for nothing else.
CREATE OR REPLACE FUNCTION precog_environment_key_guard() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  root regclass := coalesce(pg_partition_root(TG_RELID), TG_RELID);
  root_table text := (SELECT c.relname::text FROM pg_class c WHERE c.oid OPERATOR(pg_catalog.=) root AND c.relnamespace OPERATOR(pg_catalog.=) 'public'::regnamespace);
  new_row jsonb := to_jsonb(NEW);
  key_text text;
  earlier record;
BEGIN
  IF NOT EXISTS (SELECT FROM public.precog_environment_tables d
                  WHERE d.table_name OPERATOR(pg_catalog.=) root_table AND d.kind OPERATOR(pg_catalog.=) 'versioned'
                    AND d.business_key OPERATOR(pg_catalog.=) ARRAY(SELECT pg_catalog.unnest(TG_ARGV))) OR TG_OP OPERATOR(pg_catalog.<>) 'INSERT' OR TG_LEVEL OPERATOR(pg_catalog.<>) 'ROW' THEN
    RAISE EXCEPTION '[trigger-misplaced] % was made for the versioned tables of precog_environment_tables only: it does not run for %', TG_NAME, TG_RELID::regclass
      USING ERRCODE = '42501', HINT = 'precog_environment_table() attaches this function where it belongs; attach nothing else to it.';
  END IF;
  IF NEW.execution_environment IS NULL THEN
    RETURN NEW; -- refused next, by the [environment-required] trigger of the NULL partition
  END IF;
  IF TG_NARGS = 1 THEN
    key_text := new_row ->> TG_ARGV[0];
  ELSE
    SELECT jsonb_agg(new_row -> c ORDER BY i)::text INTO key_text FROM unnest(TG_ARGV) WITH ORDINALITY AS k(c, i);
  END IF;
  INSERT INTO public.precog_environment_keys (table_name, business_key, environment, backtest_run_id)
  VALUES (root_table, key_text, NEW.execution_environment, NEW.backtest_run_id)
  ON CONFLICT ON CONSTRAINT precog_environment_keys_pkey DO NOTHING;
  IF NOT FOUND THEN
    SELECT k.environment, k.backtest_run_id INTO earlier FROM public.precog_environment_keys k
     WHERE k.table_name OPERATOR(pg_catalog.=) root_table
       AND k.business_key OPERATOR(pg_catalog.=) key_text;
    -- The refusal does not name the key's environment or run: a role must not learn it of a key it cannot see.
    IF earlier.environment IS DISTINCT FROM NEW.execution_environment OR earlier.backtest_run_id IS DISTINCT FROM NEW.backtest_run_id THEN
      RAISE EXCEPTION '[environment-immutable] %.execution_environment cannot change across versions of %: it belongs to another environment or backtest run than % (run %)', root_table, key_text, NEW.execution_environment, coalesce(NEW.backtest_run_id::text, 'none')
        USING ERRCODE = 'P0001', TABLE = root_table, COLUMN = 'execution_environment',
              HINT = 'A new version copies execution_environment forward from the current version, in the same run; use a new key for another environment or run.';
    END IF;
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION precog_environment_key_guard() IS
  'BEFORE INSERT on versioned tables whose business key does not include the environment: every version of a key carries the environment (and run) of the first ([environment-immutable], precog bug #662), registered in precog_environment_keys; it runs for the versioned tables of the registry only, with their key ([trigger-misplaced]). SECURITY DEFINER so that versions hidden from the caller by row-level security still count. Executable by nobody: triggers run it.';

-- The run-delete trigger of 000013, placed: BEFORE DELETE FOR EACH ROW on backtest_runs only.
CREATE OR REPLACE FUNCTION precog_backtest_run_deleted() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  declared record;
  partition regclass;
BEGIN
  IF TG_RELID OPERATOR(pg_catalog.<>) 'public.backtest_runs'::regclass OR TG_OP OPERATOR(pg_catalog.<>) 'DELETE' OR TG_LEVEL OPERATOR(pg_catalog.<>) 'ROW' OR TG_WHEN OPERATOR(pg_catalog.<>) 'BEFORE' THEN
    RAISE EXCEPTION '[trigger-misplaced] % was made for deletes of backtest_runs only: it does not run for %', TG_NAME, TG_RELID::regclass
      USING ERRCODE = '42501', HINT = 'Migration 000013 attaches this function where it belongs; attach nothing else to it.';
  END IF;
  FOR declared IN SELECT d.table_name FROM public.precog_environment_tables d ORDER BY d.table_name LOOP
    partition := public.precog_backtest_run_partition(format('public.%I', declared.table_name)::regclass, OLD.id);
    IF partition IS NOT NULL THEN
      EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', public.precog_environment_partition(format('public.%I', declared.table_name)::regclass, 'backtest'), partition);
      EXECUTE format('ALTER TABLE %s SET SCHEMA precog_purged', partition);
    END IF;
  END LOOP;
  DELETE FROM public.precog_environment_keys k WHERE k.backtest_run_id OPERATOR(pg_catalog.=) OLD.id;
  RETURN OLD;
END;
$$;
COMMENT ON FUNCTION precog_backtest_run_deleted() IS
  'BEFORE DELETE on backtest_runs (and nothing else: [trigger-misplaced]): detaches the run''s partition of every tagged table (its rows, in constant time) into precog_purged, where precog_backtest_sweep() drops it, and deletes its versioned keys. Every other run, and live and paper, are untouched. SECURITY DEFINER: DETACH is the owner''s. Executable by nobody: the trigger runs it.';

--------------------------------------------------------------------------------
-- 2. No setting switches a guard off
--------------------------------------------------------------------------------
-- Backtest partitions are never truncated: a run's rows go with the run (DELETE FROM
-- backtest_runs, which detaches its partitions) and purge_backtest_data() deletes the runs. The
-- precog.purging_backtests switch of 000010, which any caller could SET, is gone.
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

-- [identity-issued]'s mark: the last id a sequence had issued when a statement began, per
-- backend, written only by the generated mark functions (owner's rights). Unlogged: a mark lives
-- for one statement.
CREATE UNLOGGED TABLE precog_identity_marks (
  backend   integer NOT NULL,
  sequence  regclass NOT NULL,
  mark      bigint NOT NULL,
  PRIMARY KEY (backend, sequence)
);
COMMENT ON TABLE precog_identity_marks IS
  'For [identity-issued]: per backend and identity sequence, the last value issued before the current INSERT statement began. Written by the generated precog_ids_mark_<t>() functions only; granted to nobody, so no statement can move its own mark.';
REVOKE ALL ON precog_identity_marks FROM PUBLIC;

-- The id checks of 000013, with the mark in precog_identity_marks instead of a setting (a
-- statement could set precog.ids_issued_<t>_<column> itself, in its own INSERT ... SELECT, and
-- vouch for any id), and placed ([trigger-misplaced]).
CREATE OR REPLACE FUNCTION precog_environment_id_checks(table_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $gen$
#variable_conflict use_variable
DECLARE
  t regclass := format('public.%I', table_name)::regclass;
  marks text := '';
  checks text := '';
  identity record;
  check_function text := left('precog_ids_' || table_name, 63);
  mark_function text := left('precog_ids_mark_' || table_name, 63);
  placement text := public.precog_trigger_placement(table_name);
BEGIN
  FOR identity IN
    -- pg_get_serial_sequence gives the sequence schema-qualified, as the generated function needs.
    SELECT a.attname::text AS name, pg_get_serial_sequence(t::text, a.attname) AS sequence
      FROM pg_attribute a WHERE a.attrelid = t AND a.attidentity <> '' AND NOT a.attisdropped ORDER BY a.attnum
  LOOP
    -- The mark lives in precog_identity_marks, which only these functions write (Hardening II,
    -- class 2: a setting could be reset by the very statement it guards).
    marks := marks || format($body$
  INSERT INTO public.precog_identity_marks AS m (backend, sequence, mark)
  VALUES (pg_catalog.pg_backend_pid(), %1$L::pg_catalog.regclass, (SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM %1$s s))
  ON CONFLICT (backend, sequence) DO UPDATE SET mark = excluded.mark;
$body$, identity.sequence);
    checks := checks || format($body$
  SELECT n.%1$I AS id, n.execution_environment AS environment INTO chosen
    FROM new_rows n
   WHERE n.%1$I > (SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM %2$s s)
      OR n.%1$I <= coalesce((SELECT m.mark FROM public.precog_identity_marks m
                              WHERE m.backend OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() AND m.sequence OPERATOR(pg_catalog.=) %2$L::pg_catalog.regclass),
                             (SELECT s.last_value FROM %2$s s))
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '[identity-issued] %3$s.%1$s = %% (%%) was not issued to this row by the database', chosen.id, chosen.environment
      USING ERRCODE = 'P0001', TABLE = %3$L, COLUMN = %1$L,
            HINT = 'Let the database issue ids: insert without the column (no OVERRIDING SYSTEM VALUE).';
  END IF;
$body$, identity.name, identity.sequence, table_name);
  END LOOP;
  EXECUTE format('DROP TRIGGER IF EXISTS environment_ids ON %s', t);
  EXECUTE format('DROP TRIGGER IF EXISTS environment_ids_mark ON %s', t);
  IF checks = '' THEN
    EXECUTE format('DROP FUNCTION IF EXISTS public.%I()', check_function);
    EXECUTE format('DROP FUNCTION IF EXISTS public.%I()', mark_function);
    RETURN;
  END IF;
  EXECUTE format($f$CREATE OR REPLACE FUNCTION public.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
BEGIN%s%s
  RETURN NULL;
END;
$body$$f$, mark_function, placement, marks);
  EXECUTE format('REVOKE ALL ON FUNCTION public.%I() FROM PUBLIC', mark_function);
  EXECUTE format('COMMENT ON FUNCTION public.%I() IS %L', mark_function,
                 format('Generated by precog_environment_table(): BEFORE INSERT FOR EACH STATEMENT on %s when the caller is bound by row-level security, noting the last identity value issued before the statement for [identity-issued], in precog_identity_marks (no caller writes it); it runs for that table only ([trigger-misplaced]). SECURITY DEFINER: it reads the sequence and writes the mark. Executable by nobody: triggers run it.', table_name));
  EXECUTE format($f$CREATE OR REPLACE FUNCTION public.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
  chosen record;
BEGIN%s%s
  RETURN NULL;
END;
$body$$f$, check_function, placement, checks);
  EXECUTE format('REVOKE ALL ON FUNCTION public.%I() FROM PUBLIC', check_function);
  EXECUTE format('COMMENT ON FUNCTION public.%I() IS %L', check_function,
                 format('Generated by precog_environment_table(): AFTER INSERT FOR EACH STATEMENT on %s when the caller is bound by row-level security, refusing an identity value not issued by the database during the statement ([identity-issued]); it runs for that table only ([trigger-misplaced]). SECURITY DEFINER: it reads the sequence and the mark. Executable by nobody: triggers run it.', table_name));
  EXECUTE format('CREATE TRIGGER environment_ids_mark BEFORE INSERT ON %s FOR EACH STATEMENT WHEN (pg_catalog.row_security_active(%L::regclass)) EXECUTE FUNCTION public.%I()',
                 t, t::text, mark_function);
  EXECUTE format('CREATE TRIGGER environment_ids AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT WHEN (pg_catalog.row_security_active(%L::regclass)) EXECUTE FUNCTION public.%I()',
                 t, t::text, check_function);
END;
$gen$;

--------------------------------------------------------------------------------
-- 3. References: one refusal whatever a role cannot see, and placed
--------------------------------------------------------------------------------
-- The reference checks of 000013, with one message for a backtest reference to no row of its run
-- (000013 said when the row was in another run: a run scope learnt that another run holds it),
-- and each generated function placed ([trigger-misplaced]).
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
    key_of := (SELECT string_agg(format('n.%I', c), ', ' ORDER BY i) FROM unnest(ref.columns) WITH ORDINALITY x(c, i));
    not_null := (SELECT string_agg(format('n.%I IS NOT NULL', c), ' AND ' ORDER BY i) FROM unnest(ref.columns) WITH ORDINALITY x(c, i));
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
        (SELECT string_agg(format('r.%I', k), ', ' ORDER BY i) FROM unnest(ref.referenced_columns) WITH ORDINALITY x(k, i)),
        key_of, not_null,
        (SELECT string_agg(format('r.%I = n.%I', k, c), ' AND ' ORDER BY i) FROM unnest(ref.columns, ref.referenced_columns) WITH ORDINALITY x(c, k, i)),
        table_name, ref.columns[1], left(table_name || '_' || array_to_string(ref.columns, '_') || '_reference', 63));
  END LOOP;
  FOR ref IN SELECT * FROM public.precog_environment_references r WHERE r.table_name = table_name AND r.same_environment ORDER BY r.columns LOOP
    on_update := on_update OR coalesce(declared.mutable_columns && ref.columns, false);
    key_of := (SELECT string_agg(format('n.%I', c), ', ' ORDER BY i) FROM unnest(ref.columns) WITH ORDINALITY x(c, i));
    referenced_keys := (SELECT string_agg(format('r.%I', k), ', ' ORDER BY i) FROM unnest(ref.referenced_columns) WITH ORDINALITY x(k, i));
    pairs := (SELECT string_agg(format('r.%I = n.%I', k, c), ' AND ' ORDER BY i) FROM unnest(ref.columns, ref.referenced_columns) WITH ORDINALITY x(c, k, i));
    not_null := (SELECT string_agg(format('n.%I IS NOT NULL', c), ' AND ' ORDER BY i) FROM unnest(ref.columns) WITH ORDINALITY x(c, i));
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
        (SELECT string_agg(format('t.%I = OLD.%I', c, k), ' AND ' ORDER BY i) FROM unnest(ref.columns, ref.referenced_columns) WITH ORDINALITY x(c, k, i)),
        table_name, array_to_string(ref.referenced_columns, ', '), array_to_string(ref.columns, ', '),
        (SELECT string_agg(format('OLD.%I', k), ', ' ORDER BY i) FROM unnest(ref.referenced_columns) WITH ORDINALITY x(k, i)),
        left(ref.table_name || '_' || array_to_string(ref.columns, '_') || '_reference', 63),
        (SELECT string_agg(format('OLD.%I', k), ', ' ORDER BY i) FROM unnest(ref.referenced_columns) WITH ORDINALITY x(k, i)),
        (SELECT string_agg(format('NEW.%I', k), ', ' ORDER BY i) FROM unnest(ref.referenced_columns) WITH ORDINALITY x(k, i)),
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

--------------------------------------------------------------------------------
-- 4. A run is entered per transaction, through one door
--------------------------------------------------------------------------------
-- 000013 held precog_backtest to the run named by the setting precog.backtest_run, which any
-- statement can SET (SET, set_config, or a session-level value left on a pooled connection for
-- the next transaction). The run a transaction entered is now recorded here, per backend and
-- transaction, by precog_enter_backtest_run() only; the [backtest-run] policies read it back with
-- precog_backtest_run(), which answers for the current transaction only.
CREATE UNLOGGED TABLE precog_backtest_sessions (
  backend          integer PRIMARY KEY,
  transaction      xid8 NOT NULL,
  backtest_run_id  bigint NOT NULL
);
COMMENT ON TABLE precog_backtest_sessions IS
  'The backtest run each backend''s current transaction entered (precog_enter_backtest_run()); a row of an earlier transaction counts for nothing. Granted to nobody.';
REVOKE ALL ON precog_backtest_sessions FROM PUBLIC;

-- Who made a run: a backtest login enters, reads and relabels the runs it made.
ALTER TABLE backtest_runs ADD COLUMN created_by name NOT NULL DEFAULT session_user;
COMMENT ON COLUMN backtest_runs.created_by IS
  'The login that made the run (session_user): a backtest login reads, relabels, enters and loads its own runs only. Give each backtest process its own login to keep processes apart.';

-- SECURITY DEFINER: it writes precog_backtest_sessions, which no caller may write (that is what
-- makes the record trustworthy), after checking that the session's login may enter the run.
CREATE FUNCTION precog_enter_backtest_run(run bigint) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF run IS NULL THEN
    DELETE FROM public.precog_backtest_sessions s WHERE s.backend OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
    PERFORM pg_catalog.set_config('precog.backtest_run', '', true);
    RETURN NULL;
  END IF;
  IF NOT EXISTS (
    SELECT FROM public.backtest_runs r
     WHERE r.id OPERATOR(pg_catalog.=) run
       AND (r.created_by OPERATOR(pg_catalog.=) session_user
            OR EXISTS (SELECT FROM pg_catalog.pg_roles a WHERE a.rolname OPERATOR(pg_catalog.=) session_user AND a.rolsuper)
            OR pg_catalog.pg_has_role(session_user, 'precog_backtest_admin', 'MEMBER')
            OR pg_catalog.pg_has_role(session_user, (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) 'public.backtest_runs'::regclass), 'MEMBER'))) THEN
    -- One message whether the run does not exist or is another login's.
    RAISE EXCEPTION '[backtest-run] there is no backtest run % of this login to enter', run
      USING ERRCODE = 'P0002', HINT = 'Open a scope for a run this login made (createBacktestRun), or connect as the login that made it.';
  END IF;
  INSERT INTO public.precog_backtest_sessions AS s (backend, transaction, backtest_run_id)
  VALUES (pg_catalog.pg_backend_pid(), pg_catalog.pg_current_xact_id(), run)
  ON CONFLICT (backend) DO UPDATE SET transaction = excluded.transaction, backtest_run_id = excluded.backtest_run_id;
  -- The setting stays for the column default (backtest_run_id defaults to it); it opens nothing.
  PERFORM pg_catalog.set_config('precog.backtest_run', run::text, true);
  RETURN run;
END;
$$;
COMMENT ON FUNCTION precog_enter_backtest_run(bigint) IS
  'Opens backtest run `run` for the rest of the current transaction ([backtest-run]: precog_backtest reads and writes its rows only); NULL leaves it. A login enters the runs it made (a superuser, the owner and precog_backtest_admin any). Executable by precog_backtest, the role of run scopes. SECURITY DEFINER: it records the run where no caller can write.';

-- SECURITY DEFINER: it reads precog_backtest_sessions, which no caller may read or write.
CREATE FUNCTION precog_backtest_run() RETURNS bigint
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT s.backtest_run_id FROM public.precog_backtest_sessions s
   WHERE s.backend OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
     AND s.transaction OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id_if_assigned()
$$;
COMMENT ON FUNCTION precog_backtest_run() IS
  'The backtest run the current transaction entered with precog_enter_backtest_run(), or NULL. Executable by precog_backtest, whose [backtest-run] policies read it. SECURITY DEFINER: it reads a table no caller may read.';

-- precog_backtest is held to the run its transaction entered (was: to a setting it could SET).
CREATE FUNCTION precog_backtest_run_policy(t regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
  EXECUTE format('DROP POLICY IF EXISTS %I ON %s', '[backtest-run] rows of the transaction''s run only', t);
  EXECUTE format($q$CREATE POLICY %I ON %s AS RESTRICTIVE TO precog_backtest
                    USING (backtest_run_id = (SELECT public.precog_backtest_run()))
                    WITH CHECK (backtest_run_id = (SELECT public.precog_backtest_run()))$q$,
                 '[backtest-run] rows of the transaction''s run only', t);
  EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', '[backtest-run] rows of the transaction''s run only', t,
                 'precog_backtest reads and writes the rows of the run its transaction entered (precog_enter_backtest_run(); no setting opens a run), and none without one.');
END;
$$;
COMMENT ON FUNCTION precog_backtest_run_policy(regclass) IS
  'Used by precog_environment_table(): the [backtest-run] policy of a tagged table, on the run the transaction entered.';
REVOKE ALL ON FUNCTION precog_backtest_run_policy(regclass) FROM PUBLIC;

--------------------------------------------------------------------------------
-- 5. The runs: a backtest login's own; deleting any, precog_backtest_admin's
--------------------------------------------------------------------------------
ALTER TABLE backtest_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY "[backtest-run] the login's own runs" ON backtest_runs TO precog_backtest
  USING (created_by OPERATOR(pg_catalog.=) session_user OR id = (SELECT public.precog_backtest_run()))
  WITH CHECK (created_by OPERATOR(pg_catalog.=) session_user OR id = (SELECT public.precog_backtest_run()));
COMMENT ON POLICY "[backtest-run] the login's own runs" ON backtest_runs IS
  'precog_backtest reads and relabels (status, finished_at, label) the runs its login made, and the run its transaction entered; no other run''s parameters or label.';
CREATE POLICY "[backtest-run] every run" ON backtest_runs TO precog_analyst, precog_backtest_admin USING (true);
COMMENT ON POLICY "[backtest-run] every run" ON backtest_runs IS
  'precog_analyst reads every run (to compare them); precog_backtest_admin reads and deletes any run.';
REVOKE DELETE ON backtest_runs FROM precog_backtest;
GRANT SELECT, DELETE ON backtest_runs TO precog_backtest_admin;

COMMENT ON FUNCTION purge_backtest_run(bigint) IS
  'Deletes one backtest run and every row of it in every tagged table (its partitions are dropped: constant time); returns the run. Every other run, and live and paper, are untouched. Executable by the owner and precog_backtest_admin. SECURITY DEFINER: deleting a run detaches partitions, which only the owner may.';
COMMENT ON FUNCTION purge_backtest_data() IS
  'Deletes every backtest run and its rows in every tagged table in precog_environment_tables (their partitions are dropped, no row triggers), and nothing else; returns how many rows each table held. Live rows are never deleted, paper rows are kept as training data. Executable by the owner and precog_backtest_admin. SECURITY DEFINER: it detaches and drops partitions, which only the owner may.';
COMMENT ON FUNCTION precog_backtest_sweep() IS
  'Drops the partitions of deleted backtest runs (schema precog_purged), removing their files; returns how many tables it dropped. Executable by the owner, precog_backtest and precog_backtest_admin. SECURITY DEFINER: DROP is the owner''s; it drops tables of precog_purged only.';
COMMENT ON FUNCTION create_backtest_run(integer, timestamptz, timestamptz, integer, jsonb, text) IS
  'Makes a backtest run (status created, made by the session''s login) and its partition in every tagged table; returns the run. Executable by the owner and precog_backtest. SECURITY DEFINER: a run''s partitions are DDL.';
COMMENT ON FUNCTION precog_backtest_load_begin(bigint, text[]) IS
  'Starts a bulk load of a backtest run, the run the transaction entered (precog_enter_backtest_run()): for each named tagged table (whose run partition must be empty), a staging table of its shape without indexes, bound to the run, for COPY; returns its columns and types, its identity and sequence, and whether another table of the load references it. Finish with precog_backtest_load_finish() in the same transaction. Executable by the owner and precog_backtest. SECURITY DEFINER: the staging tables are DDL.';
COMMENT ON FUNCTION precog_backtest_load_finish(bigint) IS
  'Finishes a bulk load begun by precog_backtest_load_begin(), of the run the transaction entered: builds each staging table''s indexes, checks every rule set-wise ([identity-issued], [environment-immutable] keys, references within the run and to shared rows, locked FOR KEY SHARE), then attaches each as the run''s partition. A refusal rolls the whole load back. Executable by the owner and precog_backtest. SECURITY DEFINER: it indexes and attaches tables (DDL).';

-- A load is of the run the transaction entered: begun (a row here) and finished (the row
-- deleted) by that transaction's run only. The row of a deleted run goes with it (the cascade).
CREATE FUNCTION precog_backtest_load_run_entered() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF TG_RELID OPERATOR(pg_catalog.<>) 'public.precog_backtest_loads'::regclass OR TG_LEVEL OPERATOR(pg_catalog.<>) 'ROW' THEN
    RAISE EXCEPTION '[trigger-misplaced] % was made for precog_backtest_loads only: it does not run for %', TG_NAME, TG_RELID::regclass
      USING ERRCODE = '42501', HINT = 'This migration attaches this function where it belongs; attach nothing else to it.';
  END IF;
  IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' AND NEW.backtest_run_id IS DISTINCT FROM public.precog_backtest_run()
     OR TG_OP OPERATOR(pg_catalog.=) 'DELETE' AND OLD.backtest_run_id IS DISTINCT FROM public.precog_backtest_run()
        AND EXISTS (SELECT FROM public.backtest_runs r WHERE r.id OPERATOR(pg_catalog.=) OLD.backtest_run_id) THEN
    RAISE EXCEPTION '[backtest-run] a load is of the run its transaction entered: backtest run % was not entered', CASE WHEN TG_OP = 'INSERT' THEN NEW.backtest_run_id ELSE OLD.backtest_run_id END
      USING ERRCODE = '42501', HINT = 'Enter the run first (SELECT precog_enter_backtest_run(run)), in the same transaction; db.backtests.load does.';
  END IF;
  IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION precog_backtest_load_run_entered() IS
  'BEFORE INSERT OR DELETE on precog_backtest_loads (and nothing else: [trigger-misplaced]): a bulk load is begun and finished by a transaction that entered its run ([backtest-run]). Executable by nobody: the trigger runs it.';
CREATE TRIGGER load_run_entered BEFORE INSERT OR DELETE ON precog_backtest_loads FOR EACH ROW EXECUTE FUNCTION precog_backtest_load_run_entered();

--------------------------------------------------------------------------------
-- 6. EXECUTE on owner-rights and trigger functions: only as their comments say
--------------------------------------------------------------------------------
-- PostgreSQL grants EXECUTE on a new function to PUBLIC. For every SECURITY DEFINER function and
-- every trigger function of the schema, this takes it back and grants EXECUTE to exactly the
-- roles the function's comment names in its "Executable by ..." sentence (none: the owner only).
-- Run at the end of this migration and of every declaration, so functions a declaration
-- generates later are covered too; the catalog test (test/hardening/definers.test.ts) fails on
-- any function callable otherwise.
CREATE FUNCTION precog_function_privileges() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  f record;
  grantee text;
  named text;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure AS fn, p.proowner, p.proacl, coalesce(obj_description(p.oid, 'pg_proc'), '') AS comment
      FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND (p.prosecdef OR p.prorettype = 'trigger'::regtype)
  LOOP
    named := coalesce(substring(f.comment FROM 'Executable by ([^.]*)\.'), '');
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f.fn);
    FOR grantee IN
      SELECT DISTINCT a.grantee::regrole::text FROM aclexplode(coalesce(f.proacl, acldefault('f', f.proowner))) a
       WHERE a.grantee <> 0 AND a.grantee <> f.proowner
    LOOP
      IF named !~ ('\m' || grantee || '\M') THEN
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM %I', f.fn, grantee);
      END IF;
    END LOOP;
    FOR grantee IN SELECT r.rolname::text FROM pg_roles r WHERE r.rolname ~ '^precog_' AND named ~ ('\m' || r.rolname || '\M') LOOP
      EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f.fn, grantee);
    END LOOP;
  END LOOP;
END;
$$;
COMMENT ON FUNCTION precog_function_privileges() IS
  'Used by precog_environment_table() and migrations: EXECUTE on every SECURITY DEFINER and trigger function of the schema revoked from PUBLIC and granted to exactly the roles its comment names ("Executable by ...").';
REVOKE ALL ON FUNCTION precog_function_privileges() FROM PUBLIC;

--------------------------------------------------------------------------------
-- 7. The declaration gains all of the above
--------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION precog_environment_table(
  table_name text,
  kind text,
  business_key text[] DEFAULT NULL,
  mutable_columns text[] DEFAULT NULL,
  current_column text DEFAULT 'row_current_ind',
  end_column text DEFAULT 'row_end_ts'
) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  declared record;
BEGIN
  PERFORM public.precog_environment_table_by_environment(table_name, kind, business_key, mutable_columns, current_column, end_column);
  PERFORM public.precog_backtest_runs_table(table_name);
  PERFORM public.precog_backtest_run_policy(format('public.%I', table_name)::regclass);
  -- The reference checks read backtest_run_id, which the table may only now have.
  FOR declared IN
    SELECT d.table_name FROM public.precog_environment_tables d
    UNION SELECT r.referenced_table FROM public.precog_environment_references r WHERE NOT r.same_environment
    ORDER BY 1
  LOOP
    PERFORM public.precog_environment_reference_checks(declared.table_name);
  END LOOP;
  PERFORM public.precog_function_privileges();
END;
$$;

DO $$
DECLARE
  declared record;
BEGIN
  FOR declared IN SELECT d.table_name FROM precog_environment_tables d ORDER BY d.table_name LOOP
    PERFORM precog_environment_id_checks(declared.table_name);
    PERFORM precog_backtest_run_policy(format('public.%I', declared.table_name)::regclass);
  END LOOP;
  FOR declared IN
    SELECT d.table_name FROM precog_environment_tables d
    UNION SELECT r.referenced_table FROM precog_environment_references r WHERE NOT r.same_environment
    ORDER BY 1
  LOOP
    PERFORM precog_environment_reference_checks(declared.table_name);
  END LOOP;
  PERFORM precog_function_privileges();
END
$$;
