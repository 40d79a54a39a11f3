--! Previous: sha1:dd8031bd35a5ff68016191af8c2a1fe67cad6281
--! Hash: sha1:5574af41f718a88c32b9ef7b148fd93831209b62
--! Message: Backtest runs at research scale (issue 21, ADR-110), in the framework's form: every run in one backtest partition per table, indexes twinned led by the run; a delete notes the run (hidden at once) and a bounded sweep deletes its rows; purge is one TRUNCATE; the manifest records the run-known trigger and the twin indexes, and no run partitions

-- Backtest runs at research scale (issue 21, docs/adr-110-backtest-runs-in-one-partition.md).
--
-- 000013 gave every run a partition of each tagged table's <t>_backtest. The [backtest-run]
-- policy compares the run with a setting, which prunes at execution only, so every statement of
-- a run scope planned and locked every run's partitions: at 1,000 runs a backtest read took
-- 466 ms and 10,032 locks, purging every run needed max_locks_per_transaction raised, and making
-- a run took a second. Measured candidates (ADR-110): one backtest partition per table holding
-- every run, its indexes led by backtest_run_id, is flat from 10 to 10,000 runs.
--
--   <t>                        LIST (execution_environment)
--     <t>_live, <t>_paper      as before
--     <t>_backtest             every run's rows; each index of <t> has a twin here led by
--                              backtest_run_id (<index>_by_run), so a run's reads stay one run's
--
--   rule                            how
--   ------------------------------  ------------------------------------------------------------
--   [backtest-run-required]         a backtest row names a run that exists and is not deleted:
--                                   a NULL run is refused by a row trigger (WHEN NULL only) on
--                                   <t>_backtest, an unknown or deleted one by a statement check
--                                   (precog_backtest_run_known) that locks the runs it writes into
--                                   FOR KEY SHARE (so a run is deleted only after the
--                                   transactions writing into it end)
--   [backtest-run]                  precog_backtest reads the rows of its transaction's run while
--                                   that run exists, and writes only rows of that run
--   [backtest-run-deleted]          a deleted run's rows are gone from every read at once: the run
--                                   row goes (precog_backtest's policy needs it) and the run is
--                                   noted in precog_backtest_runs_deleted (the analyst's policy
--                                   hides what is noted there); precog_backtest_sweep() deletes
--                                   the rows in bounded batches, each its own transaction, and
--                                   then the note
--
-- Deleting a run is one row's delete and one note, whatever its size. Purging every run is one
-- TRUNCATE of the backtest partitions. Making a run is one row. A bulk load copies into fresh
-- tables, checks what the triggers do not ([identity-issued]), and inserts set-wise through the
-- backtest partition, whose statement triggers check references and runs as for any insert.
--
-- The functions are the blocks below (db/framework); this migration adds the table of deleted
-- runs, drops the functions of the partitions per run, moves every run's rows into one backtest
-- partition per table, and declares every table again (which installs the new layout's triggers,
-- twin indexes and policies, and records them in the manifest).

-- 1. Deleted runs
CREATE TABLE precog_backtest_runs_deleted (
  backtest_run_id  bigint PRIMARY KEY,
  deleted_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE precog_backtest_runs_deleted IS
  'Backtest runs deleted whose rows precog_backtest_sweep() has not deleted yet: every read through a role hides their rows ([backtest-run-deleted]). A run leaves this table when none of its rows is left.';
REVOKE ALL ON precog_backtest_runs_deleted FROM PUBLIC;
GRANT SELECT ON precog_backtest_runs_deleted TO precog_analyst, precog_backtest;

-- 2. The sweep takes a budget now (bounded work per call): the old one goes first, or the two
-- would be one ambiguous call.
DROP FUNCTION precog_backtest_sweep();

-- framework:begin db/framework/declaration/precog_backtest_runs_table.sql
-- Idempotent: run by precog_environment_table() after its own work, on every declaration.
CREATE OR REPLACE FUNCTION precog_backtest_runs_table(table_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  t regclass := format('public.%I', table_name)::regclass;
  backtest regclass;
  item record;
  statement text;
  has_rows boolean;
  env text;
BEGIN
  -- The column: a backtest row's run is the transaction's (the scope sets precog.backtest_run).
  IF EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t AND a.attname = 'backtest_run_id' AND NOT a.attisdropped AND a.atttypid <> 'bigint'::regtype) THEN
    RAISE EXCEPTION 'precog_environment_table(%): backtest_run_id must be bigint (backtest_runs.id)', table_name
      USING ERRCODE = '42804', HINT = 'Declare backtest_run_id bigint (no default, nullable), or leave it out and the declaration adds it.';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t AND a.attname = 'backtest_run_id' AND NOT a.attisdropped) THEN
    EXECUTE format('ALTER TABLE %s ADD COLUMN backtest_run_id bigint', t);
  END IF;
  EXECUTE format($q$ALTER TABLE %s ALTER COLUMN backtest_run_id SET DEFAULT (NULLIF(pg_catalog.current_setting('precog.backtest_run', true), ''))::bigint$q$, t);
  EXECUTE format('COMMENT ON COLUMN %s.backtest_run_id IS %L', t,
                 'The backtest run a backtest row belongs to (backtest_runs.id); NULL for live and paper rows. Defaults to the run the transaction is opened for (the backtest scope sets precog.backtest_run).');

  -- Unique keys gain the run (as in 000013: a row of one run never collides with another run's).
  FOR item IN
    SELECT c.conname, pg_get_constraintdef(c.oid) AS def, obj_description(c.oid, 'pg_constraint') AS comment
      FROM pg_constraint c WHERE c.conrelid = t AND c.contype IN ('p', 'u')
       AND NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t AND a.attnum = ANY (c.conkey) AND a.attname = 'backtest_run_id')
  LOOP
    statement := regexp_replace(item.def, '^(?:PRIMARY KEY|UNIQUE)(?: NULLS NOT DISTINCT)? \((.*?)\)', 'UNIQUE NULLS NOT DISTINCT (\1, backtest_run_id)');
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I, ADD CONSTRAINT %I %s', t, item.conname, item.conname, statement);
    IF item.comment IS NOT NULL THEN
      EXECUTE format('COMMENT ON CONSTRAINT %I ON %s IS %L', item.conname, t, item.comment);
    END IF;
  END LOOP;
  FOR item IN
    SELECT i.indexrelid::regclass::text AS index_name, pg_get_indexdef(i.indexrelid) AS def, obj_description(i.indexrelid, 'pg_class') AS comment
      FROM pg_index i WHERE i.indrelid = t AND i.indisunique
       AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = t)
       AND NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t AND a.attnum = ANY (i.indkey) AND a.attname = 'backtest_run_id')
  LOOP
    statement := regexp_replace(replace(item.def, ' ON ONLY ', ' ON '),
                                '^(.*? USING \w+ \(.*?)\)((?: INCLUDE \(.*?\))?)(?: NULLS NOT DISTINCT)?((?: WHERE .*)?)$', '\1, backtest_run_id)\2 NULLS NOT DISTINCT\3');
    EXECUTE format('DROP INDEX %s', item.index_name);
    EXECUTE statement;
    IF item.comment IS NOT NULL THEN
      EXECUTE format('COMMENT ON INDEX %s IS %L', item.index_name, item.comment);
    END IF;
  END LOOP;

  -- One backtest partition holds every run (migration 000018 moved 000013's partitions per run
  -- into it). Rows written before runs existed (a table declared with backtest rows) go to one run
  -- made for them.
  backtest := public.precog_environment_partition(t, 'backtest');
  EXECUTE format('SELECT EXISTS (SELECT FROM %s WHERE backtest_run_id IS NULL)', backtest) INTO has_rows;
  IF has_rows THEN
    UPDATE public.precog_environment_keys k SET backtest_run_id = public.precog_backtest_legacy_run()
     WHERE k.table_name = table_name AND k.environment = 'backtest' AND k.backtest_run_id IS NULL;
    PERFORM public.precog_backtest_partition_rebuild(t, public.precog_backtest_legacy_run());
  END IF;
  backtest := public.precog_environment_partition(t, 'backtest');
  PERFORM public.precog_backtest_partition_guarded(t, backtest);
  EXECUTE format('COMMENT ON TABLE %s IS %L', backtest,
                 format('Partition of %s: its backtest rows, every run''s (backtest_run_id), each index twinned led by the run. Read and written through %s only.', table_name, table_name));
  PERFORM public.precog_backtest_run_indexes(t);

  -- [backtest-run-required]: a live or paper row belongs to no run, a backtest row to a known run.
  FOREACH env IN ARRAY array_remove(enum_range(NULL::public.execution_environment)::text[], 'backtest') LOOP
    EXECUTE format('CREATE OR REPLACE TRIGGER backtest_run_required BEFORE INSERT ON %s FOR EACH ROW WHEN (NEW.backtest_run_id IS NOT NULL) EXECUTE FUNCTION public.precog_backtest_run_required()',
                   public.precog_environment_partition(t, env));
  END LOOP;
  EXECUTE format('CREATE OR REPLACE TRIGGER backtest_run_required BEFORE INSERT ON %s FOR EACH ROW WHEN (NEW.backtest_run_id IS NULL) EXECUTE FUNCTION public.precog_backtest_run_required()', backtest);
  FOR item IN SELECT t AS relation UNION ALL SELECT backtest LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS backtest_run_known ON %s', item.relation);
    EXECUTE format('CREATE TRIGGER backtest_run_known AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.precog_backtest_run_known()', item.relation);
  END LOOP;
  IF NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conrelid = t AND c.conname = left(table_name, 40) || '_backtest_run_only_in_backtest') THEN
    EXECUTE format($q$ALTER TABLE %s ADD CONSTRAINT %I CHECK ((execution_environment = 'backtest') = (backtest_run_id IS NOT NULL))$q$, t, left(table_name, 40) || '_backtest_run_only_in_backtest');
  END IF;

  -- precog_backtest reads the rows of its transaction's run while the run exists, and writes
  -- rows of that run only (an unknown run is refused by name, by backtest_run_known).
  EXECUTE format('DROP POLICY IF EXISTS %I ON %s', '[backtest-run] rows of the transaction''s run only', t);
  EXECUTE format($q$CREATE POLICY %I ON %s AS RESTRICTIVE TO precog_backtest
                    USING (backtest_run_id = (SELECT r.id FROM public.backtest_runs r WHERE r.id = (NULLIF(pg_catalog.current_setting('precog.backtest_run', true), ''))::bigint))
                    WITH CHECK (backtest_run_id = (SELECT (NULLIF(pg_catalog.current_setting('precog.backtest_run', true), ''))::bigint))$q$,
                 '[backtest-run] rows of the transaction''s run only', t);
  EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', '[backtest-run] rows of the transaction''s run only', t,
                 'precog_backtest reads the rows of the run its transaction is opened for (precog.backtest_run, set by the backtest scope) while that run exists, writes rows of that run only, and none without one.');
  -- The analyst does not see a deleted run's rows, which the sweep has yet to delete.
  EXECUTE format('DROP POLICY IF EXISTS %I ON %s', '[backtest-run-deleted] rows of deleted runs are gone', t);
  EXECUTE format($q$CREATE POLICY %I ON %s AS RESTRICTIVE TO precog_analyst
                    USING (backtest_run_id IS NULL OR backtest_run_id NOT IN (SELECT d.backtest_run_id FROM public.precog_backtest_runs_deleted d))$q$,
                 '[backtest-run-deleted] rows of deleted runs are gone', t);
  EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', '[backtest-run-deleted] rows of deleted runs are gone', t,
                 'A deleted run''s rows are gone from the analyst''s reads at once; precog_backtest_sweep() deletes them afterwards.');
END;
$$;
COMMENT ON FUNCTION precog_backtest_runs_table(text) IS
  'Used by precog_environment_table(): gives a tagged table backtest runs (the backtest_run_id column, one backtest partition holding every run with its indexes twinned led by the run, [backtest-run-required], the [backtest-run] and [backtest-run-deleted] policies, unique keys with the run). Idempotent.';
REVOKE ALL ON FUNCTION precog_backtest_runs_table(text) FROM PUBLIC;
-- framework:end db/framework/declaration/precog_backtest_runs_table.sql

-- framework:begin db/framework/declaration/precog_environment_manifest_record.sql
-- The manifest: what the declaration installed for a tagged table, recorded right after it
-- installed it, so that the review and npm run check compare the catalog with what the
-- declaration did rather than with a list kept by hand. Recorded per role of a relation in the
-- table's tree (the table, each environment's partition, the partition of a NULL environment;
-- every run's rows are in the backtest partition, 000018):
--   trigger   every trigger of ours (its function is named precog_*) on the tree (a partition's
--             clone of its table's row trigger is the table's), its definition
--             with the relation replaced by {relation}, and the rules its function names
--             (backtest_run_known on the table and on <t>_backtest among them)
--   policy    every policy on the table, as PostgreSQL deparses it
--   index     the one-current-version index of a versioned table, and the twins of the table's
--             indexes on the backtest partition led by the run (<index>_by_run), which keep a
--             run's statements to its run's entries
-- Each row carries the rules the object enforces ([rule] names, from its function's or its own
-- comment) and what it does (that comment), which the review quotes when the object is gone.
CREATE OR REPLACE FUNCTION precog_environment_manifest_record(table_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  t regclass := format('public.%I', table_name)::regclass;
BEGIN
  DELETE FROM public.precog_environment_manifest m WHERE m.table_name = table_name;
  INSERT INTO public.precog_environment_manifest (table_name, object_kind, relation_role, name, definition, rules, about)
  WITH tree(relation, role) AS (
    SELECT t, 'table'::text COLLATE "C"
    UNION ALL
    SELECT i.inhrelid::regclass,
           coalesce(substring(pg_get_expr(c.relpartbound, c.oid) FROM '^FOR VALUES IN \(''(\w+)''\)$'), 'environment_missing') COLLATE "C"
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = t
  ), triggers AS (
    SELECT DISTINCT ON (tree.role, g.tgname) tree.role, g.tgname::text AS name,
           replace(pg_get_triggerdef(g.oid), ' ON ' || tree.relation::text || ' ', ' ON {relation} ') AS definition,
           coalesce(obj_description(g.tgfoid, 'pg_proc'), '') AS about
      FROM tree JOIN pg_trigger g ON g.tgrelid = tree.relation AND NOT g.tgisinternal AND g.tgparentid = 0
      JOIN pg_proc p ON p.oid = g.tgfoid
     WHERE p.proname LIKE 'precog\_%'
     ORDER BY tree.role, g.tgname, tree.relation::oid
  )
  SELECT table_name, 'trigger', x.role, x.name, x.definition, public.precog_manifest_rules(x.about), x.about FROM triggers x
  UNION ALL
  SELECT table_name, 'policy', 'table', p.polname::text,
         format('%s FOR %s TO %s USING (%s) WITH CHECK (%s)', CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END, p.polcmd,
                CASE WHEN p.polroles = '{0}' THEN 'public' ELSE (SELECT string_agg(r.rolname::text, ', ' ORDER BY r.rolname) FROM pg_roles r WHERE r.oid = ANY (p.polroles)) END,
                coalesce(pg_get_expr(p.polqual, p.polrelid), ''), coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')),
         public.precog_manifest_rules(p.polname || ' ' || coalesce(obj_description(p.oid, 'pg_policy'), '')),
         coalesce(obj_description(p.oid, 'pg_policy'), '')
    FROM pg_policy p WHERE p.polrelid = t
  UNION ALL
  SELECT table_name, 'index', 'table', c.relname::text, replace(pg_get_indexdef(c.oid), ' ON ' || t::text || ' ', ' ON {relation} '),
         '{}', coalesce(obj_description(c.oid, 'pg_class'), '')
    FROM pg_class c WHERE c.oid = to_regclass(format('public.%I', table_name || '_one_current_version'))
  UNION ALL
  SELECT table_name, 'index', 'backtest', c.relname::text, replace(pg_get_indexdef(c.oid), ' ON ' || i.indrelid::regclass::text || ' ', ' ON {relation} '),
         '{}', coalesce(obj_description(c.oid, 'pg_class'), '')
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
   WHERE i.indrelid = public.precog_environment_partition(t, 'backtest') AND c.relname LIKE '%\_by\_run';
END;
$$;
COMMENT ON FUNCTION precog_environment_manifest_record(text) IS
  'Used by precog_environment_table(): records in precog_environment_manifest what the declaration installed for a tagged table (triggers by relation role, policies, the one-current-version index, the run-led twins of its indexes on the backtest partition), with the rules each enforces.';
REVOKE ALL ON FUNCTION precog_environment_manifest_record(text) FROM PUBLIC;
-- framework:end db/framework/declaration/precog_environment_manifest_record.sql

-- framework:begin db/framework/guards/precog_backtest_run_deleted.sql
-- BEFORE DELETE on backtest_runs: the run is noted as deleted; its rows are gone from every read
-- at once (the policies) and deleted by precog_backtest_sweep() afterwards.
-- SECURITY DEFINER: precog_backtest_runs_deleted is granted to nobody for writing; it notes the deleted run only.
CREATE OR REPLACE FUNCTION precog_backtest_run_deleted() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  INSERT INTO public.precog_backtest_runs_deleted (backtest_run_id) VALUES (OLD.id) ON CONFLICT DO NOTHING;
  RETURN OLD;
END;
$$;
COMMENT ON FUNCTION precog_backtest_run_deleted() IS
  'BEFORE DELETE on backtest_runs: notes the run in precog_backtest_runs_deleted (one row, whatever the run''s size); its rows are hidden from every read at once and deleted by precog_backtest_sweep(). Every other run, and live and paper, are untouched.';
-- framework:end db/framework/guards/precog_backtest_run_deleted.sql

-- framework:begin db/framework/guards/precog_backtest_run_known.sql
-- AFTER INSERT FOR EACH STATEMENT on <t> and <t>_backtest: every backtest row names a run that
-- exists; the runs are locked FOR KEY SHARE, so deleting one waits for the transactions writing
-- into it (and then none can: its row is gone). SECURITY DEFINER: it reads and locks backtest_runs.
CREATE OR REPLACE FUNCTION precog_backtest_run_known() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  unknown bigint;
  table_name text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = coalesce(pg_partition_root(TG_RELID), TG_RELID));
BEGIN
  PERFORM FROM public.backtest_runs r
   WHERE r.id IN (SELECT DISTINCT n.backtest_run_id FROM new_rows n WHERE n.backtest_run_id IS NOT NULL)
     FOR KEY SHARE OF r;
  SELECT n.backtest_run_id INTO unknown FROM new_rows n
   WHERE n.backtest_run_id IS NOT NULL
     AND NOT EXISTS (SELECT FROM public.backtest_runs r WHERE r.id OPERATOR(pg_catalog.=) n.backtest_run_id)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '[backtest-run-required] %.backtest_run_id = %: there is no such backtest run', table_name, unknown
      USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'backtest_run_id',
            HINT = 'Create the run first (createBacktestRun; SQL: create_backtest_run()); a deleted run takes its rows with it.';
  END IF;
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION precog_backtest_run_known() IS
  'AFTER INSERT FOR EACH STATEMENT on every tagged table and its backtest partition: a backtest row names an existing run ([backtest-run-required]), locked FOR KEY SHARE until the transaction ends. SECURITY DEFINER: it reads and locks backtest_runs.';
REVOKE ALL ON FUNCTION precog_backtest_run_known() FROM PUBLIC;
-- framework:end db/framework/guards/precog_backtest_run_known.sql

-- framework:begin db/framework/guards/precog_environment_key_guard.sql
-- BEFORE INSERT on versioned tables whose key does not include the environment. TG_ARGV: the
-- key columns. Every version of a key keeps the environment and the backtest run of the first
-- ([environment-immutable]), registered in precog_environment_keys, whose primary key makes two
-- sessions creating one key from two environments serialise. SECURITY DEFINER: the key's first
-- environment must count whatever the caller's row-level security lets it see (a paper session
-- must not add a version to a live key it cannot see), and precog_environment_keys is granted to
-- nobody. It reads and writes only that table, with a pinned search_path.
-- A key of a deleted run is free again: its rows are gone from every read, and the sweep
-- deletes its keys later (000018). A backtest row of no known run is refused for that first.
CREATE OR REPLACE FUNCTION precog_environment_key_guard() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  root_table text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = pg_partition_root(TG_RELID));
  new_row jsonb := to_jsonb(NEW);
  key_text text;
  earlier record;
BEGIN
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
       AND k.business_key OPERATOR(pg_catalog.=) key_text
       FOR UPDATE;
    IF earlier.backtest_run_id IS NOT NULL AND earlier.backtest_run_id IS DISTINCT FROM NEW.backtest_run_id
       AND EXISTS (SELECT FROM public.precog_backtest_runs_deleted d WHERE d.backtest_run_id OPERATOR(pg_catalog.=) earlier.backtest_run_id) THEN
      UPDATE public.precog_environment_keys k SET environment = NEW.execution_environment, backtest_run_id = NEW.backtest_run_id
       WHERE k.table_name OPERATOR(pg_catalog.=) root_table AND k.business_key OPERATOR(pg_catalog.=) key_text;
      RETURN NEW;
    END IF;
    -- A backtest row of no known run is refused for that first (the statement check would, later).
    IF NEW.backtest_run_id IS NOT NULL AND earlier.backtest_run_id IS DISTINCT FROM NEW.backtest_run_id
       AND NOT EXISTS (SELECT FROM public.backtest_runs r WHERE r.id OPERATOR(pg_catalog.=) NEW.backtest_run_id) THEN
      RAISE EXCEPTION '[backtest-run-required] %.backtest_run_id = %: there is no such backtest run', root_table, NEW.backtest_run_id
        USING ERRCODE = 'P0001', TABLE = root_table, COLUMN = 'backtest_run_id',
              HINT = 'Create the run first (createBacktestRun; SQL: create_backtest_run()); a deleted run takes its rows with it.';
    END IF;
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
  'BEFORE INSERT on versioned tables whose business key does not include the environment: every version of a key carries the environment of the first ([environment-immutable], precog bug #662), registered in precog_environment_keys. SECURITY DEFINER so that versions hidden from the caller by row-level security still count.';
-- framework:end db/framework/guards/precog_environment_key_guard.sql

-- framework:begin db/framework/load/precog_backtest_load_begin.sql
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
  'Starts a bulk load of a backtest run: for each named tagged table (which must hold no row of the run), a staging table of its shape without indexes, bound to the run, for COPY; returns its columns and types, its identity and sequence, and whether another table of the load references it. Finish with precog_backtest_load_finish() in the same transaction.';
REVOKE ALL ON FUNCTION precog_backtest_load_begin(bigint, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_load_begin(bigint, text[]) TO precog_backtest;
-- framework:end db/framework/load/precog_backtest_load_begin.sql

-- framework:begin db/framework/load/precog_backtest_load_finish.sql
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
  'Finishes a bulk load begun by precog_backtest_load_begin(): checks [identity-issued] set-wise, then inserts each staging table into the backtest partition (referenced tables first), whose statement triggers check references within the run and to shared rows, keys and the run set-wise. A refusal rolls the whole load back.';
REVOKE ALL ON FUNCTION precog_backtest_load_finish(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_load_finish(bigint) TO precog_backtest;
-- framework:end db/framework/load/precog_backtest_load_finish.sql

-- framework:begin db/framework/partitions/precog_backtest_partition_rebuild.sql
-- Rebuilds t's backtest partition as one plain table holding every run's rows (from the
-- partitions per run of 000013, or from a plain partition whose rows have no run yet: those go
-- to `legacy`). The rows move with their ids; the new table is filled before it is attached.
CREATE OR REPLACE FUNCTION precog_backtest_partition_rebuild(t regclass, legacy bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  table_name text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = t);
  old regclass := public.precog_environment_partition(t, 'backtest');
  old_name text := left(table_name, 40) || '_backtest_before_000014';
  fresh regclass;
  columns text;
  bound text := left(table_name, 40) || '_backtest_bound';
BEGIN
  EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', t, old);
  EXECUTE format('ALTER TABLE %s RENAME TO %I', old, old_name);
  EXECUTE format('CREATE TABLE public.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)', table_name || '_backtest', t);
  fresh := format('public.%I', table_name || '_backtest')::regclass;
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO columns
    FROM pg_attribute a WHERE a.attrelid = fresh AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
  EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM public.%I', fresh, columns,
                 replace(columns, 'backtest_run_id', format('coalesce(backtest_run_id, %s) AS backtest_run_id', coalesce(legacy::text, 'NULL'))), old_name);
  -- The bound as a CHECK spares the attach its scan; the partition bound replaces it.
  EXECUTE format($q$ALTER TABLE %s ADD CONSTRAINT %I CHECK (execution_environment IS NOT NULL AND execution_environment = 'backtest')$q$, fresh, bound);
  EXECUTE format($q$ALTER TABLE %s ATTACH PARTITION %s FOR VALUES IN ('backtest')$q$, t, fresh);
  EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fresh, bound);
  EXECUTE format('DROP TABLE public.%I CASCADE', old_name);
END;
$$;
COMMENT ON FUNCTION precog_backtest_partition_rebuild(regclass, bigint) IS
  'Used by precog_backtest_runs_table() and migration 000018: rebuilds a tagged table''s backtest partition as one plain table holding every run''s rows (rows without a run go to the legacy run), keeping ids.';
REVOKE ALL ON FUNCTION precog_backtest_partition_rebuild(regclass, bigint) FROM PUBLIC;
-- framework:end db/framework/partitions/precog_backtest_partition_rebuild.sql

-- framework:begin db/framework/partitions/precog_backtest_run_indexes.sql
-- For each btree index of t, its twin on the backtest partition led by backtest_run_id (the
-- environment and run columns dropped from the rest), unless another twin begins with the same
-- columns (it serves the same reads): a run scope's statement reads its run's entries only,
-- however many runs there are. Idempotent; an index added to t later gets its twin when t is
-- declared again.
CREATE OR REPLACE FUNCTION precog_backtest_run_indexes(t regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  backtest regclass := public.precog_environment_partition(t, 'backtest');
  item record;
BEGIN
  FOR item IN
    WITH indexes AS (
      SELECT c.relname::text AS index_name,
             regexp_match(pg_get_indexdef(i.indexrelid), '^CREATE (?:UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ USING btree \((.*?)\)((?: INCLUDE \(.*?\))?)(?: NULLS NOT DISTINCT)?((?: WHERE .*)?)$') AS parts
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
       WHERE i.indrelid = t AND am.amname = 'btree'
    ), twins AS (
      SELECT x.index_name, left(x.index_name, 55) || '_by_run' AS twin, x.parts[2] AS include, x.parts[3] AS predicate,
             ARRAY['backtest_run_id'] || coalesce(ARRAY(SELECT k FROM unnest(string_to_array(x.parts[1], ', ')) WITH ORDINALITY u(k, n)
                                                         WHERE k NOT IN ('execution_environment', 'backtest_run_id') ORDER BY n), '{}') AS keys
        FROM indexes x WHERE x.parts IS NOT NULL
    )
    SELECT w.* FROM twins w
     WHERE NOT EXISTS (SELECT FROM twins o WHERE o.predicate = w.predicate AND o.include = '' AND w.include = ''
                          AND o.keys[1:cardinality(w.keys)] = w.keys
                          AND (cardinality(o.keys) > cardinality(w.keys) OR o.index_name < w.index_name))
     ORDER BY w.index_name
  LOOP
    CONTINUE WHEN EXISTS (SELECT FROM pg_class c WHERE c.relname = item.twin AND c.relnamespace = 'public'::regnamespace);
    EXECUTE format('CREATE INDEX %I ON %s USING btree (%s)%s%s', item.twin, backtest, array_to_string(item.keys, ', '), item.include, item.predicate);
    EXECUTE format('COMMENT ON INDEX public.%I IS %L', item.twin,
                   format('The twin of %s on the backtest partition, led by backtest_run_id: a run''s statements read its run''s entries only (migration 000014).', item.index_name));
  END LOOP;
END;
$$;
COMMENT ON FUNCTION precog_backtest_run_indexes(regclass) IS
  'Used by precog_backtest_runs_table(): for each btree index of a tagged table, its twin on the backtest partition led by backtest_run_id (<index>_by_run), so a run''s statements read that run''s entries only. Idempotent.';
REVOKE ALL ON FUNCTION precog_backtest_run_indexes(regclass) FROM PUBLIC;
-- framework:end db/framework/partitions/precog_backtest_run_indexes.sql

-- framework:begin db/framework/runs/create_backtest_run.sql
-- One row: a run has no objects of its own.
CREATE OR REPLACE FUNCTION create_backtest_run(
  strategy_id integer,
  period_start timestamptz,
  period_end timestamptz,
  model_id integer DEFAULT NULL,
  parameters jsonb DEFAULT '{}',
  label text DEFAULT NULL
) RETURNS public.backtest_runs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  made public.backtest_runs;
BEGIN
  IF strategy_id IS NOT NULL AND NOT EXISTS (SELECT FROM public.strategies s WHERE s.strategy_id OPERATOR(pg_catalog.=) strategy_id) THEN
    RAISE EXCEPTION 'create_backtest_run: strategy_id % is no strategy', strategy_id
      USING ERRCODE = '23503', HINT = 'Pass the strategy_id of a row of strategies (the version that ran).';
  END IF;
  IF model_id IS NOT NULL AND NOT EXISTS (SELECT FROM public.probability_models m WHERE m.model_id OPERATOR(pg_catalog.=) model_id) THEN
    RAISE EXCEPTION 'create_backtest_run: model_id % is no probability model', model_id
      USING ERRCODE = '23503', HINT = 'Pass the model_id of a row of probability_models, or none.';
  END IF;
  INSERT INTO public.backtest_runs (strategy_id, model_id, strategy_version, model_version, parameters, period_start, period_end, label)
  VALUES (strategy_id, model_id,
          (SELECT s.strategy_version FROM public.strategies s WHERE s.strategy_id OPERATOR(pg_catalog.=) strategy_id),
          (SELECT m.model_version FROM public.probability_models m WHERE m.model_id OPERATOR(pg_catalog.=) model_id),
          coalesce(parameters, '{}'), period_start, period_end, label)
  RETURNING * INTO made;
  RETURN made;
END;
$$;
COMMENT ON FUNCTION create_backtest_run(integer, timestamptz, timestamptz, integer, jsonb, text) IS
  'Makes a backtest run (status created); returns the run. One row: every tagged table''s backtest partition holds every run. Executable by the owner and precog_backtest.';
REVOKE ALL ON FUNCTION create_backtest_run(integer, timestamptz, timestamptz, integer, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION create_backtest_run(integer, timestamptz, timestamptz, integer, jsonb, text) TO precog_backtest;
-- framework:end db/framework/runs/create_backtest_run.sql

-- framework:begin db/framework/runs/precog_backtest_delete_order.sql
-- The tagged tables, a table before every table it references (same environment): deleting a
-- run's rows in this order never deletes a row another row of the run still references.
CREATE OR REPLACE FUNCTION precog_backtest_delete_order() RETURNS TABLE (table_name text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  WITH RECURSIVE depth (table_name, level) AS (
    SELECT d.table_name, 0 FROM public.precog_environment_tables d
    UNION ALL
    SELECT r.referenced_table, depth.level + 1 FROM depth
      JOIN public.precog_environment_references r ON r.table_name OPERATOR(pg_catalog.=) depth.table_name
     WHERE r.same_environment AND r.referenced_table OPERATOR(pg_catalog.<>) r.table_name AND depth.level < 32
  )
  SELECT depth.table_name FROM depth GROUP BY depth.table_name ORDER BY max(depth.level), depth.table_name
$$;
COMMENT ON FUNCTION precog_backtest_delete_order() IS
  'The tagged tables, each before every tagged table it references in the same environment: the order precog_backtest_sweep() deletes a run''s rows in, and the reverse of the order a bulk load inserts in.';
REVOKE ALL ON FUNCTION precog_backtest_delete_order() FROM PUBLIC;
-- framework:end db/framework/runs/precog_backtest_delete_order.sql

-- framework:begin db/framework/runs/precog_backtest_sweep.sql
-- Deletes at most max_rows rows of deleted runs (then their keys, then their note): bounded work
-- in the caller's transaction, on the backtest partitions only (row locks; no lock a live or
-- paper statement takes). Returns how many rows it deleted: call it again until it returns 0.
-- SECURITY DEFINER: precog_backtest may not delete rows (and sees none of a deleted run); this
-- deletes rows of deleted runs only, read from precog_backtest_runs_deleted.
CREATE OR REPLACE FUNCTION precog_backtest_sweep(max_rows integer DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  run bigint;
  declared record;
  budget bigint := greatest(coalesce(max_rows, 10000), 1);
  deleted bigint := 0;
  n bigint;
BEGIN
  FOR run IN SELECT d.backtest_run_id FROM public.precog_backtest_runs_deleted d ORDER BY d.deleted_at, d.backtest_run_id LOOP
    FOR declared IN SELECT o.table_name FROM public.precog_backtest_delete_order() o LOOP
      EXECUTE format('DELETE FROM %1$s x WHERE x.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT y.ctid FROM %1$s y WHERE y.backtest_run_id OPERATOR(pg_catalog.=) $1 LIMIT $2))',
                     public.precog_environment_partition(format('public.%I', declared.table_name)::regclass, 'backtest'))
        USING run, budget - deleted;
      GET DIAGNOSTICS n = ROW_COUNT;
      deleted := deleted + n;
      IF deleted >= budget THEN
        RETURN deleted; -- more may be left: the next call goes on
      END IF;
    END LOOP;
    DELETE FROM public.precog_environment_keys k
     WHERE k.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT y.ctid FROM public.precog_environment_keys y WHERE y.backtest_run_id OPERATOR(pg_catalog.=) run LIMIT budget - deleted));
    GET DIAGNOSTICS n = ROW_COUNT;
    deleted := deleted + n;
    IF deleted >= budget THEN
      RETURN deleted;
    END IF;
    DELETE FROM public.precog_backtest_runs_deleted d WHERE d.backtest_run_id OPERATOR(pg_catalog.=) run;
  END LOOP;
  RETURN deleted;
END;
$$;
COMMENT ON FUNCTION precog_backtest_sweep(integer) IS
  'Deletes at most max_rows rows of deleted backtest runs (already hidden from every read), referencing tables first, then their keys, then the run''s note in precog_backtest_runs_deleted; returns how many rows it deleted (0: nothing is left). Bounded work per call, each call its own transaction. SECURITY DEFINER: precog_backtest may not delete rows; it deletes rows of deleted runs only. Executable by the owner and precog_backtest.';
REVOKE ALL ON FUNCTION precog_backtest_sweep(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_sweep(integer) TO precog_backtest;
-- framework:end db/framework/runs/precog_backtest_sweep.sql

-- framework:begin db/framework/runs/purge_backtest_data.sql
-- Every backtest run at once, from the registry: one TRUNCATE of every backtest partition
-- (constant time, a few locks, no row triggers); returns how many rows each tagged table held.
-- SECURITY DEFINER so that it is the one way to delete in bulk: no role has DELETE or TRUNCATE on
-- a tagged table.
CREATE OR REPLACE FUNCTION purge_backtest_data() RETURNS TABLE (table_name text, rows_deleted bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  partitions text;
BEGIN
  SELECT string_agg(public.precog_environment_partition(format('public.%I', d.table_name)::regclass, 'backtest')::text, ', ' ORDER BY d.table_name)
    INTO partitions FROM public.precog_environment_tables d;
  IF partitions IS NOT NULL THEN
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', partitions);
    FOR table_name IN SELECT d.table_name FROM public.precog_environment_tables d ORDER BY d.table_name LOOP
      EXECUTE format('SELECT count(*) FROM %s', public.precog_environment_partition(format('public.%I', table_name)::regclass, 'backtest')) INTO rows_deleted;
      RETURN NEXT;
    END LOOP;
    PERFORM set_config('precog.purging_backtests', 'on', true);
    EXECUTE format('TRUNCATE %s', partitions);
    PERFORM set_config('precog.purging_backtests', 'off', true);
  END IF;
  DELETE FROM public.backtest_runs;
  DELETE FROM public.precog_backtest_runs_deleted;
  DELETE FROM public.precog_environment_keys k WHERE k.environment OPERATOR(pg_catalog.=) 'backtest'::public.execution_environment;
END;
$$;
COMMENT ON FUNCTION purge_backtest_data() IS
  'Deletes every backtest run and its rows in every tagged table in precog_environment_tables (one TRUNCATE of their backtest partitions: constant time, no row triggers), and nothing else; returns how many rows each table held. Live rows are never deleted, paper rows are kept as training data. Executable by the owner and precog_backtest.';

REVOKE ALL ON FUNCTION purge_backtest_data() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_backtest_data() TO precog_backtest;
-- framework:end db/framework/runs/purge_backtest_data.sql

-- framework:begin db/framework/runs/purge_backtest_run.sql
-- SECURITY DEFINER, as precog_backtest_run_deleted() is: deleting a run notes it as deleted, which
-- only the owner may; it deletes the one run named, and returns the run's row (no tagged row).
CREATE OR REPLACE FUNCTION purge_backtest_run(run bigint) RETURNS public.backtest_runs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  deleted public.backtest_runs;
BEGIN
  DELETE FROM public.backtest_runs r WHERE r.id OPERATOR(pg_catalog.=) run RETURNING * INTO deleted;
  IF deleted.id IS NULL THEN
    RAISE EXCEPTION 'purge_backtest_run: there is no backtest run %', run
      USING ERRCODE = 'P0002', HINT = 'List the runs: npm run backtests -- list (SQL: SELECT * FROM backtest_runs).';
  END IF;
  RETURN deleted;
END;
$$;
COMMENT ON FUNCTION purge_backtest_run(bigint) IS
  'Deletes one backtest run: its rows in every tagged table are hidden at once and deleted by precog_backtest_sweep(); returns the run. Every other run, and live and paper, are untouched. Executable by the owner and precog_backtest.';
REVOKE ALL ON FUNCTION purge_backtest_run(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_backtest_run(bigint) TO precog_backtest;
-- framework:end db/framework/runs/purge_backtest_run.sql

-- framework:begin db/framework/declaration/precog_environment_table.sql
-- The declaration: SELECT precog_environment_table('settlements', kind => 'append_only');
-- installs every guarantee of a tagged table for its kind (the table in README.md): the work per
-- environment (precog_environment_table_by_environment), then backtest runs
-- (precog_backtest_runs_table), then the reference checks of every table again, as they read
-- backtest_run_id, which the table may only now have, then records what it installed in the
-- manifest (precog_environment_manifest_record). Idempotent: declaring again changes nothing.
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
  -- The reference checks read backtest_run_id, which the table may only now have.
  FOR declared IN
    SELECT d.table_name FROM public.precog_environment_tables d
    UNION SELECT r.referenced_table FROM public.precog_environment_references r WHERE NOT r.same_environment
    ORDER BY 1
  LOOP
    PERFORM public.precog_environment_reference_checks(declared.table_name);
  END LOOP;
  -- What was installed, for the review and npm run check (every table: the reference checks of
  -- each were regenerated above).
  FOR declared IN SELECT d.table_name FROM public.precog_environment_tables d ORDER BY 1 LOOP
    PERFORM public.precog_environment_manifest_record(declared.table_name);
  END LOOP;
END;
$$;
COMMENT ON FUNCTION precog_environment_table(text, text, text[], text[], text, text) IS
  'Declares an environment-tagged table and installs every guarantee for its kind (migrations 000010, 000013 and 000018): no default, NOT NULL, immutable environment, same-environment and same-run references, the kind''s write rules, live history kept, LIST partitions by environment, one backtest partition holding every run, row-level security and grants, and its row in precog_environment_tables. Idempotent.';
REVOKE ALL ON FUNCTION precog_environment_table(text, text, text[], text[], text, text) FROM PUBLIC;
-- framework:end db/framework/declaration/precog_environment_table.sql

-- framework:begin db/framework/guards/precog_backtest_run_required.sql
-- BEFORE INSERT on <t>_backtest WHEN the row names no run, and on the live and paper partitions
-- WHEN the row names one. (A run that does not exist is refused by precog_backtest_run_known,
-- once per statement.)
CREATE OR REPLACE FUNCTION precog_backtest_run_required() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  table_name text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = pg_partition_root(TG_RELID));
BEGIN
  IF NEW.execution_environment IS DISTINCT FROM 'backtest'::public.execution_environment THEN
    RAISE EXCEPTION '[backtest-run-required] a % row of % belongs to no backtest run (backtest_run_id = %)', NEW.execution_environment, table_name, NEW.backtest_run_id
      USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'backtest_run_id',
            HINT = 'Only backtest rows belong to a run: leave backtest_run_id NULL for live and paper rows.';
  END IF;
  IF NEW.backtest_run_id IS NULL THEN
    RAISE EXCEPTION '[backtest-run-required] a backtest row of % belongs to a backtest run: backtest_run_id is NULL', table_name
      USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'backtest_run_id',
            HINT = 'Open the backtest scope for a run: db.scope(''backtest'', { api: ''none'', run }), with a run from createBacktestRun (SQL: create_backtest_run()).';
  END IF;
  RAISE EXCEPTION '[backtest-run-required] %.backtest_run_id = %: there is no such backtest run', table_name, NEW.backtest_run_id
    USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'backtest_run_id',
          HINT = 'Create the run first (createBacktestRun; SQL: create_backtest_run()); a deleted run takes its rows with it.';
END;
$$;
COMMENT ON FUNCTION precog_backtest_run_required() IS
  'BEFORE INSERT on the backtest partition of every tagged table when a row names no run, and on its live and paper partitions when a row names one: [backtest-run-required].';
-- framework:end db/framework/guards/precog_backtest_run_required.sql

-- 3. The functions of the partitions per run go (their files are gone from db/framework).
DROP FUNCTION precog_backtest_run_partition_create(regclass, bigint);
DROP FUNCTION precog_backtest_run_partition_setup(regclass, regclass, bigint);
DROP FUNCTION precog_backtest_run_partition(regclass, bigint);

-- 4. Every tagged table's run partitions become one backtest partition, with their rows and ids
-- (precog_backtest_partition_rebuild fills the new table before attaching it). The declaration
-- below then installs the new layout on it.
DO $$
DECLARE
  declared record;
BEGIN
  FOR declared IN SELECT d.table_name FROM precog_environment_tables d ORDER BY d.table_name LOOP
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = precog_environment_partition(format('public.%I', declared.table_name)::regclass, 'backtest')) = 'p' THEN
      PERFORM precog_backtest_partition_rebuild(format('public.%I', declared.table_name)::regclass, NULL);
    END IF;
  END LOOP;
END
$$;

-- 5. Partitions of runs deleted before this migration, left for the old sweep: their rows are gone.
DO $$
DECLARE
  purged record;
BEGIN
  FOR purged IN SELECT c.oid::regclass AS relation FROM pg_class c WHERE c.relnamespace = 'precog_purged'::regnamespace AND c.relkind = 'r' LOOP
    EXECUTE format('DROP TABLE %s', purged.relation);
  END LOOP;
END
$$;
DROP SCHEMA precog_purged;

COMMENT ON TABLE backtest_runs IS
  'One backtest: a strategy (and model) version over a simulated period with parameters. Every backtest row of every tagged table belongs to exactly one run (backtest_run_id); a deleted run''s rows are hidden at once and deleted by precog_backtest_sweep().';
COMMENT ON TABLE precog_environment_manifest IS
  'What precog_environment_table() installed for each tagged table, recorded right after installing it: triggers (per relation role: table, live, paper, backtest, environment_missing), policies, the one-current-version index and the run-led twins of the table''s indexes on the backtest partition, with their definitions ({relation} for the relation), the [rules] each enforces and what it does. Read by the review and npm run check. Written only by precog_environment_manifest_record().';
COMMENT ON COLUMN precog_environment_manifest.relation_role IS
  'Which relations of the table''s tree hold the object: table, an environment''s partition (live, paper, backtest) or environment_missing (the NULL partition).';

-- 6. Every table declared again: the new layout's triggers (backtest_run_known), twin indexes
-- and policies, and the manifest of what is installed.

SELECT precog_environment_redeclare();
