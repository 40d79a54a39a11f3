--! Previous: sha1:7f4adf3bba1f47ef5a4f33d508d6cb7b82a2c202
--! Hash: sha1:e69fb9c5d2404bdcb94914490cd2018278adf1c6
--! Message: Backtest runs: every backtest row belongs to one run, a partition per run; runs made, deleted and bulk-loaded in constant time

-- 000013: backtest runs (issue 14).
--
-- A backtest is a run: a strategy (and model) version over a simulated period with parameters.
-- Every backtest row of every tagged table belongs to exactly one run, live and paper rows to
-- none, and a row of one run references only rows of the same run. Each run's rows are a
-- partition of their own, so one run is purged in constant time (its partitions are dropped) and
-- bulk-loaded the way PostgreSQL's documentation recommends (into a fresh table without indexes,
-- indexed and validated set-wise, then attached):
--
--   <t>                        LIST (execution_environment)
--     <t>_live, <t>_paper      as before
--     <t>_backtest             LIST (backtest_run_id)
--       <t>_run_<id>           one run's rows, created with the run, dropped with it
--       <t>_run_missing        DEFAULT: always empty; a backtest row without a known run is
--                              refused here with [backtest-run-required]
--
--   rule                            how
--   ------------------------------  ------------------------------------------------------------
--   [backtest-run-required]         backtest rows carry the run of the scope (backtest_run_id
--                                   defaults to the transaction's precog.backtest_run setting);
--                                   one without a run, or of an unknown run, reaches
--                                   <t>_run_missing and is refused; a live or paper row with a run
--                                   is refused by a trigger on its partition (WHEN: others never
--                                   call it), and a CHECK stands behind both
--   [backtest-run-cross-reference]  a reference between tagged tables stays within one run (the
--                                   reference checks of 000010, regenerated here with the run)
--   [backtest-run]                  row-level security: precog_backtest reads and writes the
--                                   rows of the run its transaction is opened for, and no other
--                                   (no run: no rows)
--   [environment-immutable]         a versioned key belongs to one environment and one run
--
-- Unique keys of a tagged table gain backtest_run_id (PostgreSQL requires a partitioned table's
-- unique keys to include every partition key below it); NULLS NOT DISTINCT keeps them unique for
-- live and paper rows, whose run is NULL. Primary keys therefore become unique constraints of the
-- same name. Identities are still issued by one sequence per table.
--
-- precog_environment_table() gains the same for every table declared after this migration.
-- Runs inside the transaction graphile-migrate opens.

--------------------------------------------------------------------------------
-- 1. The runs
--------------------------------------------------------------------------------
CREATE TABLE backtest_runs (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  strategy_id       integer REFERENCES strategies (strategy_id),
  model_id          integer REFERENCES probability_models (model_id),
  -- The versions as they were when the run was made: a run's identity does not move if the
  -- strategy row is edited later.
  strategy_version  text,
  model_version     text,
  parameters        jsonb NOT NULL DEFAULT '{}' CONSTRAINT backtest_runs_parameters_is_object CHECK (jsonb_typeof(parameters) = 'object'),
  period_start      timestamptz NOT NULL,
  period_end        timestamptz NOT NULL,
  status            text NOT NULL DEFAULT 'created'
                    CONSTRAINT backtest_runs_status CHECK (status IN ('created', 'running', 'finished', 'failed')),
  label             text CONSTRAINT backtest_runs_label_length CHECK (length(label) <= 256),
  created_at        timestamptz NOT NULL DEFAULT now(),
  finished_at       timestamptz,
  CONSTRAINT backtest_runs_period_ordered CHECK (period_end > period_start),
  CONSTRAINT backtest_runs_finished_when_done CHECK ((status IN ('finished', 'failed')) = (finished_at IS NOT NULL))
);
CREATE INDEX backtest_runs_strategy_idx ON backtest_runs (strategy_id, created_at DESC);
COMMENT ON TABLE backtest_runs IS
  'One backtest: a strategy (and model) version over a simulated period with parameters. Every backtest row of every tagged table belongs to exactly one run (backtest_run_id), and each run''s rows are partitions of their own: created by create_backtest_run(), dropped by DELETE (purge_backtest_run()), in constant time.';
COMMENT ON COLUMN backtest_runs.parameters IS 'The run''s parameters, as the backtester was given them (a JSON object).';
COMMENT ON COLUMN backtest_runs.status IS 'created (no row yet), running, finished or failed (finished_at set).';
REVOKE ALL ON backtest_runs FROM PUBLIC;
GRANT SELECT ON backtest_runs TO precog_backtest, precog_analyst;
GRANT UPDATE (status, finished_at, label) ON backtest_runs TO precog_backtest;
GRANT DELETE ON backtest_runs TO precog_backtest;

--------------------------------------------------------------------------------
-- 2. Guards
--------------------------------------------------------------------------------
-- BEFORE INSERT on <t>_run_missing (every row reaching it), and on the live and paper
-- partitions WHEN the row names a run.
CREATE FUNCTION precog_backtest_run_required() RETURNS trigger
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
  'BEFORE INSERT on the <t>_run_missing partition of every tagged table (a backtest row without a run, or of an unknown one) and on its live and paper partitions when a row names a run: [backtest-run-required].';

-- The key guard of 000010, with the run: a versioned key belongs to one environment and one run.
ALTER TABLE precog_environment_keys ADD COLUMN backtest_run_id bigint;
COMMENT ON COLUMN precog_environment_keys.backtest_run_id IS 'The run of a backtest key (NULL for live and paper): every version of the key stays in it.';
CREATE INDEX precog_environment_keys_run_idx ON precog_environment_keys (backtest_run_id) WHERE backtest_run_id IS NOT NULL;

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

-- The partition of t's backtest partition that holds run (NULL: the DEFAULT one, <t>_run_missing).
CREATE FUNCTION precog_backtest_run_partition(t regclass, run bigint) RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = public.precog_environment_partition(t, 'backtest')
     AND pg_get_expr(c.relpartbound, c.oid) = CASE WHEN run IS NULL THEN 'DEFAULT' ELSE format('FOR VALUES IN (''%s'')', run) END
$$;
COMMENT ON FUNCTION precog_backtest_run_partition(regclass, bigint) IS
  'The partition of a tagged table that holds one backtest run''s rows (NULL: the always-empty DEFAULT one).';

-- What <t>_backtest and every partition below it have: no grants, row-level security without
-- policies (read and written through <t> only), ids from <t>'s sequence before PostgreSQL 17 (a
-- partition does not inherit its table's identity there, as in 000010), TRUNCATE only by the purge.
CREATE FUNCTION precog_backtest_partition_guarded(t regclass, partition regclass) RETURNS void
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

-- A run's partition (run NULL: the DEFAULT one, which refuses every row): guarded, and commented.
CREATE FUNCTION precog_backtest_run_partition_setup(t regclass, partition regclass, run bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
  PERFORM public.precog_backtest_partition_guarded(t, partition);
  IF run IS NULL THEN
    EXECUTE format('CREATE OR REPLACE TRIGGER backtest_run_required BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION public.precog_backtest_run_required()', partition);
    EXECUTE format('COMMENT ON TABLE %s IS %L', partition,
                   format('Partition of %s for backtest rows without a known run: always empty; such an insert is refused here with [backtest-run-required].', t));
  ELSE
    EXECUTE format('COMMENT ON TABLE %s IS %L', partition,
                   format('Partition of %s: the rows of backtest run %s. Read and written through %s only; dropped with the run (purge_backtest_run).', t, run, t));
  END IF;
END;
$$;
REVOKE ALL ON FUNCTION precog_backtest_run_partition_setup(regclass, regclass, bigint) FROM PUBLIC;

-- Creates run's partition of tagged table t (idempotent).
CREATE FUNCTION precog_backtest_run_partition_create(t regclass, run bigint) RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  partition regclass := public.precog_backtest_run_partition(t, run);
  name text := left((SELECT c.relname::text FROM pg_class c WHERE c.oid = t), 40) || '_run_' || run;
BEGIN
  IF partition IS NULL THEN
    EXECUTE format('CREATE TABLE public.%I PARTITION OF %s FOR VALUES IN (%s)', name, public.precog_environment_partition(t, 'backtest'), run);
    partition := format('public.%I', name)::regclass;
    PERFORM public.precog_backtest_run_partition_setup(t, partition, run);
  END IF;
  RETURN partition;
END;
$$;
REVOKE ALL ON FUNCTION precog_backtest_run_partition_create(regclass, bigint) FROM PUBLIC;

--------------------------------------------------------------------------------
-- 3. A tagged table gains runs
--------------------------------------------------------------------------------
-- Idempotent: run by precog_environment_table() after its own work, on every declaration.
CREATE FUNCTION precog_backtest_runs_table(table_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  t regclass := format('public.%I', table_name)::regclass;
  backtest regclass;
  old_backtest text;
  item record;
  statement text;
  columns text;
  legacy bigint;
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

  -- Unique keys gain the run (a partitioned table''s unique key includes every partition key).
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

  -- The backtest partition becomes partitioned by run. Rows written before runs existed move
  -- into one run made for them.
  backtest := public.precog_environment_partition(t, 'backtest');
  IF (SELECT c.relkind FROM pg_class c WHERE c.oid = backtest) <> 'p' THEN
    old_backtest := left(table_name, 40) || '_backtest_before_runs';
    EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', t, backtest);
    EXECUTE format('ALTER TABLE %s RENAME TO %I', backtest, old_backtest);
    EXECUTE format('CREATE TABLE public.%I PARTITION OF %s FOR VALUES IN (''backtest'') PARTITION BY LIST (backtest_run_id)', table_name || '_backtest', t);
    backtest := format('public.%I', table_name || '_backtest')::regclass;
    PERFORM public.precog_backtest_partition_guarded(t, backtest);
    EXECUTE format('COMMENT ON TABLE %s IS %L', backtest,
                   format('Partition of %s: its backtest rows, one partition per backtest run (%s_run_<id>). Read and written through %s only.', table_name, left(table_name, 40), table_name));
    EXECUTE format('CREATE TABLE public.%I PARTITION OF %s DEFAULT', left(table_name, 40) || '_run_missing', backtest);
    PERFORM public.precog_backtest_run_partition_setup(t, format('public.%I', left(table_name, 40) || '_run_missing')::regclass, NULL);
    EXECUTE format('SELECT EXISTS (SELECT FROM public.%I)', old_backtest) INTO has_rows;
    IF has_rows THEN
      legacy := public.precog_backtest_legacy_run();
      PERFORM public.precog_backtest_run_partition_create(t, legacy);
      SELECT string_agg(CASE WHEN a.attname = 'backtest_run_id' THEN legacy::text ELSE quote_ident(a.attname) END, ', ' ORDER BY a.attnum) INTO columns
        FROM pg_attribute a WHERE a.attrelid = format('public.%I', old_backtest)::regclass AND a.attnum > 0 AND NOT a.attisdropped;
      UPDATE public.precog_environment_keys k SET backtest_run_id = legacy WHERE k.table_name = table_name AND k.environment = 'backtest' AND k.backtest_run_id IS NULL;
      EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM public.%I',
                     t, (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = format('public.%I', old_backtest)::regclass AND a.attnum > 0 AND NOT a.attisdropped),
                     columns, old_backtest);
    END IF;
    EXECUTE format('DROP TABLE public.%I', old_backtest);
  END IF;
  -- A partition for every run there is (a table declared after runs were made).
  FOR item IN SELECT r.id FROM public.backtest_runs r ORDER BY r.id LOOP
    PERFORM public.precog_backtest_run_partition_create(t, item.id);
  END LOOP;

  -- Live and paper rows belong to no run: refused with the rule's name, and a CHECK behind it.
  FOREACH env IN ARRAY array_remove(enum_range(NULL::public.execution_environment)::text[], 'backtest') LOOP
    EXECUTE format('CREATE OR REPLACE TRIGGER backtest_run_required BEFORE INSERT ON %s FOR EACH ROW WHEN (NEW.backtest_run_id IS NOT NULL) EXECUTE FUNCTION public.precog_backtest_run_required()',
                   public.precog_environment_partition(t, env));
  END LOOP;
  IF NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conrelid = t AND c.conname = left(table_name, 40) || '_backtest_run_only_in_backtest') THEN
    EXECUTE format($q$ALTER TABLE %s ADD CONSTRAINT %I CHECK ((execution_environment = 'backtest') = (backtest_run_id IS NOT NULL))$q$, t, left(table_name, 40) || '_backtest_run_only_in_backtest');
  END IF;

  -- precog_backtest reads and writes the rows of its transaction's run only.
  EXECUTE format('DROP POLICY IF EXISTS %I ON %s', '[backtest-run] rows of the transaction''s run only', t);
  EXECUTE format($q$CREATE POLICY %I ON %s AS RESTRICTIVE TO precog_backtest
                    USING (backtest_run_id = (SELECT (NULLIF(pg_catalog.current_setting('precog.backtest_run', true), ''))::bigint))
                    WITH CHECK (backtest_run_id = (SELECT (NULLIF(pg_catalog.current_setting('precog.backtest_run', true), ''))::bigint))$q$,
                 '[backtest-run] rows of the transaction''s run only', t);
  EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', '[backtest-run] rows of the transaction''s run only', t,
                 'precog_backtest reads and writes the rows of the run its transaction is opened for (precog.backtest_run, set by the backtest scope), and none without one.');
END;
$$;
COMMENT ON FUNCTION precog_backtest_runs_table(text) IS
  'Used by precog_environment_table(): gives a tagged table backtest runs (the backtest_run_id column, its backtest partition partitioned by run, [backtest-run-required], the [backtest-run] policy, unique keys with the run). Idempotent.';
REVOKE ALL ON FUNCTION precog_backtest_runs_table(text) FROM PUBLIC;

-- The one run that backtest rows written before runs existed are moved into (made once, on
-- first need).
CREATE FUNCTION precog_backtest_legacy_run() RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
  WITH made AS (
    INSERT INTO public.backtest_runs (label, period_start, period_end, status, finished_at)
    SELECT 'backtest rows written before runs existed (migration 000013)', '-infinity', 'infinity', 'finished', pg_catalog.now()
     WHERE NOT EXISTS (SELECT FROM public.backtest_runs r WHERE r.label OPERATOR(pg_catalog.=) 'backtest rows written before runs existed (migration 000013)')
    RETURNING id)
  SELECT id FROM made
  UNION ALL
  SELECT r.id FROM public.backtest_runs r WHERE r.label OPERATOR(pg_catalog.=) 'backtest rows written before runs existed (migration 000013)'
  LIMIT 1
$$;
REVOKE ALL ON FUNCTION precog_backtest_legacy_run() FROM PUBLIC;

--------------------------------------------------------------------------------
-- 4. Reference checks, environment by environment and run by run
--------------------------------------------------------------------------------
-- 000010's generator, regenerated so that every check names the referenced environment as a
-- constant (the planner then reads only that environment's partition, however many runs there
-- are), and so that backtest rows are checked run by run: a reference stays within its run.
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
      IF EXISTS (SELECT FROM public.%2$I r WHERE r.execution_environment = 'backtest' AND (%10$s) = (SELECT %11$s FROM (SELECT string_to_array(missing_key, ', ') AS k) v)) THEN
        RAISE EXCEPTION '[backtest-run-cross-reference] %7$s (%1$s) = (%%) of backtest run %% refers to a row of %2$s in another run: a row references only rows of its own run', missing_key, run
          USING ERRCODE = 'P0001', TABLE = %7$L, COLUMN = %8$L, CONSTRAINT = %9$L,
                HINT = 'Reference a row written in the same backtest run (the scope''s run).';
      END IF;
      RAISE EXCEPTION '[environment-cross-reference] %7$s (%1$s) = (%%) refers to no backtest row of %2$s: a row references only rows of its own environment', missing_key
        USING ERRCODE = 'P0001', TABLE = %7$L, COLUMN = %8$L, CONSTRAINT = %9$L,
              HINT = 'Reference a row of the same environment and run (written first), or write this row in the environment of the row it references.';
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
BEGIN%s
  RETURN NULL;
END;
$body$$f$, check_function, checks);
    EXECUTE format('REVOKE ALL ON FUNCTION public.%I() FROM PUBLIC', check_function);
    EXECUTE format('COMMENT ON FUNCTION public.%I() IS %L', check_function,
                   format('Generated by precog_environment_table(): AFTER INSERT FOR EACH STATEMENT on %s and its partitions, the references of precog_environment_references: every reference is to a row of the same environment ([environment-cross-reference]) and, for backtest rows, of the same run ([backtest-run-cross-reference]). SECURITY DEFINER, as foreign key checks run as the owner.', table_name));
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
BEGIN%s
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END;
$body$$f$, guard_function, guards);
    EXECUTE format('REVOKE ALL ON FUNCTION public.%I() FROM PUBLIC', guard_function);
    EXECUTE format('COMMENT ON FUNCTION public.%I() IS %L', guard_function,
                   format('Generated by precog_environment_table(): BEFORE DELETE OR UPDATE on %s, a row that a tagged table references (precog_environment_references) is kept, and so is its key. SECURITY DEFINER, as foreign key checks run as the owner.', table_name));
    EXECUTE format('CREATE TRIGGER environment_referenced BEFORE DELETE OR UPDATE OF %s ON %s FOR EACH ROW EXECUTE FUNCTION public.%I()',
                   (SELECT string_agg(DISTINCT quote_ident(k), ', ') FROM public.precog_environment_references r, unnest(r.referenced_columns) k WHERE r.referenced_table = table_name), t, guard_function);
  ELSE
    EXECUTE format('DROP FUNCTION IF EXISTS public.%I()', guard_function);
  END IF;
END;
$gen$;

--------------------------------------------------------------------------------
-- 4b. A foreign key to a tagged table names the run too
--------------------------------------------------------------------------------
-- 000010's conversion of a foreign key into a reference, with the run: the key a new table
-- declares to a tagged table is (x_id, execution_environment, backtest_run_id), the only unique
-- key a tagged table now has; the reference recorded is (x_id), as before.
CREATE OR REPLACE FUNCTION precog_environment_reference(fk oid) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  c pg_constraint;
  from_table text;
  to_table text;
  from_columns text[];
  to_columns text[];
  same_environment boolean;
  sibling record;
BEGIN
  SELECT * INTO c FROM pg_constraint WHERE oid = fk;
  from_table := (SELECT r.relname::text FROM pg_class r WHERE r.oid = coalesce(pg_partition_root(c.conrelid), c.conrelid));
  to_table := (SELECT r.relname::text FROM pg_class r WHERE r.oid = coalesce(pg_partition_root(c.confrelid), c.confrelid));
  same_environment := EXISTS (SELECT FROM public.precog_environment_tables d WHERE d.table_name = to_table);
  SELECT array_agg(a.attname::text ORDER BY k.i) INTO from_columns FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n;
  SELECT array_agg(a.attname::text ORDER BY k.i) INTO to_columns FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n;
  IF c.confupdtype NOT IN ('a', 'r') OR c.confdeltype NOT IN ('a', 'r') OR c.condeferrable OR c.confmatchtype <> 's' THEN
    IF NOT same_environment THEN
      RETURN; -- stays a constraint
    END IF;
    RAISE EXCEPTION 'precog_environment_table: foreign key % on % has actions, deferral or MATCH FULL: a reference between tagged tables is plain', c.conname, from_table
      USING ERRCODE = '42830', HINT = 'Declare it FOREIGN KEY (...) REFERENCES ... with no ON DELETE/ON UPDATE action: rows of a tagged table are never deleted by a cascade (live history is kept; backtests are purged together).';
  END IF;
  IF same_environment AND array_position(from_columns, 'execution_environment') IS DISTINCT FROM array_position(to_columns, 'execution_environment') THEN
    RAISE EXCEPTION 'precog_environment_table: foreign key % on % does not pair execution_environment with execution_environment', c.conname, from_table
      USING ERRCODE = '42830', HINT = format('Reference %s by (..., execution_environment, backtest_run_id) -> (%s, execution_environment, backtest_run_id).', to_table, array_to_string(array_remove(array_remove(to_columns, 'execution_environment'), 'backtest_run_id'), ', '));
  END IF;
  -- A tagged table's unique keys include backtest_run_id (this migration), so a foreign key to
  -- one names it too: (x_id, execution_environment, backtest_run_id) -> (id, execution_environment, backtest_run_id).
  IF same_environment AND array_position(from_columns, 'backtest_run_id') IS DISTINCT FROM array_position(to_columns, 'backtest_run_id') THEN
    RAISE EXCEPTION 'precog_environment_table: foreign key % on % does not pair backtest_run_id with backtest_run_id', c.conname, from_table
      USING ERRCODE = '42830', HINT = format('Reference %s by (..., execution_environment, backtest_run_id) -> (%s, execution_environment, backtest_run_id).', to_table, array_to_string(array_remove(array_remove(to_columns, 'execution_environment'), 'backtest_run_id'), ', '));
  END IF;
  IF same_environment THEN
    from_columns := array_remove(array_remove(from_columns, 'execution_environment'), 'backtest_run_id');
    to_columns := array_remove(array_remove(to_columns, 'execution_environment'), 'backtest_run_id');
  END IF;
  INSERT INTO public.precog_environment_references AS r (table_name, columns, referenced_table, referenced_columns, same_environment)
  VALUES (from_table, from_columns, to_table, to_columns, same_environment)
  ON CONFLICT ON CONSTRAINT precog_environment_references_pkey DO UPDATE
    SET referenced_table = excluded.referenced_table, referenced_columns = excluded.referenced_columns, same_environment = excluded.same_environment;
  -- The constraint goes, wherever it was declared (on the table, or per partition pair).
  FOR sibling IN
    SELECT s.conrelid::regclass AS relation, s.conname FROM pg_constraint s
     WHERE s.contype = 'f' AND s.conparentid = 0 AND s.conkey = c.conkey
       AND coalesce(pg_partition_root(s.conrelid), s.conrelid) = coalesce(pg_partition_root(c.conrelid), c.conrelid) AND coalesce(pg_partition_root(s.confrelid), s.confrelid) = coalesce(pg_partition_root(c.confrelid), c.confrelid)
  LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', sibling.relation, sibling.conname);
  END LOOP;
END;
$$;
COMMENT ON FUNCTION precog_environment_reference(oid) IS
  'Used by precog_environment_table(): records a foreign key of a tagged table in precog_environment_references (checked per statement; environment included when it references another tagged table) and drops the constraint.';
REVOKE ALL ON FUNCTION precog_environment_reference(oid) FROM PUBLIC;

--------------------------------------------------------------------------------
-- 5. The declaration gains runs
--------------------------------------------------------------------------------
-- 000010's declaration keeps doing what it did, under another name; precog_environment_table()
-- calls it and then gives the table runs, so every table declared from now on has them too.
ALTER FUNCTION precog_environment_table(text, text, text[], text[], text, text) RENAME TO precog_environment_table_by_environment;
COMMENT ON FUNCTION precog_environment_table_by_environment(text, text, text[], text[], text, text) IS
  'Used by precog_environment_table(): the declaration of migration 000010 (environments: partitions, guards, references, policies, grants, registry). Idempotent.';

CREATE FUNCTION precog_environment_table(
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
END;
$$;
COMMENT ON FUNCTION precog_environment_table(text, text, text[], text[], text, text) IS
  'Declares an environment-tagged table and installs every guarantee for its kind (migrations 000010 and 000013): no default, NOT NULL, immutable environment, same-environment and same-run references, the kind''s write rules, live history kept, LIST partitions by environment and backtest run, row-level security and grants, and its row in precog_environment_tables. Idempotent.';
REVOKE ALL ON FUNCTION precog_environment_table(text, text, text[], text[], text, text) FROM PUBLIC;

--------------------------------------------------------------------------------
-- 6. Making, deleting and purging runs
--------------------------------------------------------------------------------
-- SECURITY DEFINER: a run's partitions are DDL, which precog_backtest may not run itself. It
-- reads the registry and creates partitions of registered tables only.
CREATE FUNCTION create_backtest_run(
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
  declared record;
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
  FOR declared IN SELECT d.table_name FROM public.precog_environment_tables d ORDER BY d.table_name LOOP
    PERFORM public.precog_backtest_run_partition_create(format('public.%I', declared.table_name)::regclass, made.id);
  END LOOP;
  RETURN made;
END;
$$;
COMMENT ON FUNCTION create_backtest_run(integer, timestamptz, timestamptz, integer, jsonb, text) IS
  'Makes a backtest run (status created) and its partition in every tagged table; returns the run. Executable by the owner and precog_backtest.';
REVOKE ALL ON FUNCTION create_backtest_run(integer, timestamptz, timestamptz, integer, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION create_backtest_run(integer, timestamptz, timestamptz, integer, jsonb, text) TO precog_backtest;

-- Where a deleted run's partitions wait for their files to be removed. Dropping a table of 1M rows
-- is quick, but its COMMIT then unlinks hundreds of MB (100-250 ms here, BENCHMARKS.md), so a run
-- is detached and moved here instead, which commits in milliseconds: the rows are gone from every
-- table at once. precog_backtest_sweep() drops what is here, in a transaction of its own
-- (db.backtests.delete runs it after the delete has committed; purge_backtest_data() at its end).
CREATE SCHEMA precog_purged;
COMMENT ON SCHEMA precog_purged IS 'Partitions of deleted backtest runs, detached and waiting to be dropped by precog_backtest_sweep(). Granted to nobody.';
REVOKE ALL ON SCHEMA precog_purged FROM PUBLIC;

-- BEFORE DELETE on backtest_runs: the run's rows go with it, every tagged table's partition
-- detached and moved to precog_purged (constant time, whatever the run's size).
-- SECURITY DEFINER: DETACH is the owner's; it detaches partitions of registered tables for this run only.
CREATE FUNCTION precog_backtest_run_deleted() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  declared record;
  partition regclass;
BEGIN
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
  'BEFORE DELETE on backtest_runs: detaches the run''s partition of every tagged table (its rows, in constant time) into precog_purged, where precog_backtest_sweep() drops it, and deletes its versioned keys. Every other run, and live and paper, are untouched.';

-- SECURITY DEFINER: DROP is the owner's; it drops tables of precog_purged only.
CREATE FUNCTION precog_backtest_sweep() RETURNS integer
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
  'Drops the partitions of deleted backtest runs (schema precog_purged), removing their files; returns how many tables it dropped. Executable by the owner and precog_backtest.';
REVOKE ALL ON FUNCTION precog_backtest_sweep() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_sweep() TO precog_backtest;
CREATE TRIGGER backtest_run_deleted BEFORE DELETE ON backtest_runs FOR EACH ROW EXECUTE FUNCTION precog_backtest_run_deleted();
CREATE TRIGGER backtest_run_no_truncate BEFORE TRUNCATE ON backtest_runs FOR EACH STATEMENT EXECUTE FUNCTION precog_backtest_purged_together();

-- SECURITY DEFINER, as precog_backtest_run_deleted() is: deleting a run detaches its partitions,
-- which only the owner may; it deletes the one run named, and returns the run's row (no tagged row).
CREATE FUNCTION purge_backtest_run(run bigint) RETURNS public.backtest_runs
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
  'Deletes one backtest run and every row of it in every tagged table (its partitions are dropped: constant time); returns the run. Every other run, and live and paper, are untouched. Executable by the owner and precog_backtest.';
REVOKE ALL ON FUNCTION purge_backtest_run(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_backtest_run(bigint) TO precog_backtest;

-- Every run at once: 000010's result, from the registry; the runs go with their rows.
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
  IF partitions IS NULL THEN
    RETURN;
  END IF;
  EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', partitions);
  FOR table_name IN SELECT d.table_name FROM public.precog_environment_tables d ORDER BY d.table_name LOOP
    EXECUTE format('SELECT count(*) FROM %s', public.precog_environment_partition(format('public.%I', table_name)::regclass, 'backtest')) INTO rows_deleted;
    RETURN NEXT;
  END LOOP;
  DELETE FROM public.backtest_runs;
  DELETE FROM public.precog_environment_keys k WHERE k.environment OPERATOR(pg_catalog.=) 'backtest'::public.execution_environment;
  PERFORM public.precog_backtest_sweep();
END;
$$;
COMMENT ON FUNCTION purge_backtest_data() IS
  'Deletes every backtest run and its rows in every tagged table in precog_environment_tables (their partitions are dropped, no row triggers), and nothing else; returns how many rows each table held. Live rows are never deleted, paper rows are kept as training data. Executable by the owner and precog_backtest.';

--------------------------------------------------------------------------------
-- 7. Bulk loading a run: COPY into fresh tables, index, validate set-wise, attach
--------------------------------------------------------------------------------
-- The path PostgreSQL's documentation recommends for bulk loads, with every guarantee checked
-- before a row becomes visible. All in the caller's one transaction:
--   SELECT * FROM precog_backtest_load_begin(run, ARRAY['positions', 'trades']);
--   COPY <staging table> (...) FROM STDIN;   -- one per table, ids from nextval
--   SELECT * FROM precog_backtest_load_finish(run);
-- A failure anywhere rolls the whole load back: nothing is left behind, the run's (empty)
-- partitions are as they were.
CREATE TABLE precog_backtest_loads (
  backtest_run_id  bigint NOT NULL REFERENCES backtest_runs ON DELETE CASCADE,
  table_name       text NOT NULL REFERENCES precog_environment_tables,
  staging_table    text NOT NULL,
  id_floor         bigint,
  PRIMARY KEY (backtest_run_id, table_name)
);
COMMENT ON TABLE precog_backtest_loads IS
  'The bulk loads in progress (inside their transaction only): per run and tagged table, the staging table rows are copied into and the identity value issued before the load began. Written by precog_backtest_load_begin(), emptied by precog_backtest_load_finish().';
REVOKE ALL ON precog_backtest_loads FROM PUBLIC;

-- SECURITY DEFINER: the staging tables are DDL. It creates tables of registered tables' shape
-- only, granted INSERT to precog_backtest for the COPY.
CREATE FUNCTION precog_backtest_load_begin(run bigint, tables text[])
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
    EXECUTE format('SELECT EXISTS (SELECT FROM %s)', public.precog_backtest_run_partition(t, run)) INTO has_rows;
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
  'Starts a bulk load of a backtest run: for each named tagged table (whose run partition must be empty), a staging table of its shape without indexes, bound to the run, for COPY; returns its columns and types, its identity and sequence, and whether another table of the load references it. Finish with precog_backtest_load_finish() in the same transaction.';
REVOKE ALL ON FUNCTION precog_backtest_load_begin(bigint, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_load_begin(bigint, text[]) TO precog_backtest;

-- SECURITY DEFINER: it indexes, validates and attaches the staging tables (DDL), reading the
-- registry for what to check. Every rule a row-by-row insert would meet is checked set-wise.
CREATE FUNCTION precog_backtest_load_finish(run bigint) RETURNS TABLE (table_name text, rows_loaded bigint)
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
  'Finishes a bulk load begun by precog_backtest_load_begin(): builds each staging table''s indexes, checks every rule set-wise ([identity-issued], [environment-immutable] keys, references within the run and to shared rows, locked FOR KEY SHARE), then attaches each as the run''s partition. A refusal rolls the whole load back.';
REVOKE ALL ON FUNCTION precog_backtest_load_finish(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_load_finish(bigint) TO precog_backtest;

--------------------------------------------------------------------------------
-- 8. Every tagged table gains runs
--------------------------------------------------------------------------------
DO $$
DECLARE
  declared record;
BEGIN
  FOR declared IN SELECT d.table_name FROM precog_environment_tables d ORDER BY d.table_name LOOP
    PERFORM precog_backtest_runs_table(declared.table_name);
  END LOOP;
  -- The tagged tables, and the shared tables they reference (whose guards keep referenced rows).
  FOR declared IN
    SELECT d.table_name FROM precog_environment_tables d
    UNION SELECT r.referenced_table FROM precog_environment_references r WHERE NOT r.same_environment
    ORDER BY 1
  LOOP
    PERFORM precog_environment_reference_checks(declared.table_name);
  END LOOP;
END
$$;

--------------------------------------------------------------------------------
-- 9. [identity-issued] without reading other partitions
--------------------------------------------------------------------------------
-- 000010's check refused an id the sequence had not issued yet, or one a row of another
-- environment has; the second probe reads every other partition, and with a partition per
-- backtest run (000013) a live insert by the live login would read hundreds. The check now asks
-- the sequence only: a statement trigger notes the last id issued before the statement, and every
-- id the statement inserts must have been issued during it (after that mark, up to the sequence's
-- last value). An id chosen with OVERRIDING SYSTEM VALUE is then refused whether or not a row has
-- it yet, and no table is read. (Left: an id issued concurrently to another session's statement,
-- chosen in the same instant, passes; the other row then shares it in another environment.)
-- Only for callers bound by row-level security, as before: the owner's bulk loads do not pay.
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
  setting text;
BEGIN
  FOR identity IN
    -- pg_get_serial_sequence gives the sequence schema-qualified, as the generated function needs.
    SELECT a.attname::text AS name, pg_get_serial_sequence(t::text, a.attname) AS sequence
      FROM pg_attribute a WHERE a.attrelid = t AND a.attidentity <> '' AND NOT a.attisdropped ORDER BY a.attnum
  LOOP
    setting := left('precog.ids_issued_' || table_name || '_' || identity.name, 63);
    marks := marks || format($body$
  PERFORM pg_catalog.set_config(%1$L, (SELECT (CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END)::text FROM %2$s s), true);
$body$, setting, identity.sequence);
    checks := checks || format($body$
  SELECT n.%1$I AS id, n.execution_environment AS environment INTO chosen
    FROM new_rows n
   WHERE n.%1$I > (SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM %2$s s)
      OR n.%1$I <= coalesce(nullif(pg_catalog.current_setting(%4$L, true), '')::bigint, 0)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '[identity-issued] %3$s.%1$s = %% (%%) was not issued to this row by the database', chosen.id, chosen.environment
      USING ERRCODE = 'P0001', TABLE = %3$L, COLUMN = %1$L,
            HINT = 'Let the database issue ids: insert without the column (no OVERRIDING SYSTEM VALUE).';
  END IF;
$body$, identity.name, identity.sequence, table_name, setting);
  END LOOP;
  EXECUTE format('DROP TRIGGER IF EXISTS environment_ids ON %s', t);
  EXECUTE format('DROP TRIGGER IF EXISTS environment_ids_mark ON %s', t);
  IF checks = '' THEN
    EXECUTE format('DROP FUNCTION IF EXISTS public.%I()', check_function);
    EXECUTE format('DROP FUNCTION IF EXISTS public.%I()', mark_function);
    RETURN;
  END IF;
  EXECUTE format($f$CREATE OR REPLACE FUNCTION public.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
BEGIN%s
  RETURN NULL;
END;
$body$$f$, mark_function, marks);
  EXECUTE format('REVOKE ALL ON FUNCTION public.%I() FROM PUBLIC', mark_function);
  EXECUTE format('COMMENT ON FUNCTION public.%I() IS %L', mark_function,
                 format('Generated by precog_environment_table(): BEFORE INSERT FOR EACH STATEMENT on %s when the caller is bound by row-level security, noting the last identity value issued before the statement for [identity-issued]. SECURITY DEFINER: it reads the sequence.', table_name));
  EXECUTE format($f$CREATE OR REPLACE FUNCTION public.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
  chosen record;
BEGIN%s
  RETURN NULL;
END;
$body$$f$, check_function, checks);
  EXECUTE format('REVOKE ALL ON FUNCTION public.%I() FROM PUBLIC', check_function);
  EXECUTE format('COMMENT ON FUNCTION public.%I() IS %L', check_function,
                 format('Generated by precog_environment_table(): AFTER INSERT FOR EACH STATEMENT on %s when the caller is bound by row-level security, refusing an identity value not issued by the database during the statement ([identity-issued]). SECURITY DEFINER: it reads the sequence.', table_name));
  EXECUTE format('CREATE TRIGGER environment_ids_mark BEFORE INSERT ON %s FOR EACH STATEMENT WHEN (pg_catalog.row_security_active(%L::regclass)) EXECUTE FUNCTION public.%I()',
                 t, t::text, mark_function);
  EXECUTE format('CREATE TRIGGER environment_ids AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT WHEN (pg_catalog.row_security_active(%L::regclass)) EXECUTE FUNCTION public.%I()',
                 t, t::text, check_function);
END;
$gen$;

DO $$
DECLARE
  declared record;
BEGIN
  FOR declared IN SELECT d.table_name FROM precog_environment_tables d ORDER BY d.table_name LOOP
    PERFORM precog_environment_id_checks(declared.table_name);
  END LOOP;
END
$$;
