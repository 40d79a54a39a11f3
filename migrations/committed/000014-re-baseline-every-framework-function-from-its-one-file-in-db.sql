--! Previous: sha1:e69fb9c5d2404bdcb94914490cd2018278adf1c6
--! Hash: sha1:af8df1c04bd5c7a4a6e3027a6921c7649aecbecc
--! Message: Re-baseline: every framework function from its one file in db/framework (catalog unchanged)

-- Re-baseline of the environment framework (issue 20): every function of migrations 000010 and
-- 000013, as it is installed today, from its one source file in db/framework/ (one file per
-- function; db/framework/README.md). Nothing changes in the catalog: the files were taken from
-- those migrations, and test/database/framework.test.ts proves the catalog identical before and
-- after. From here on, a change to the framework is an edit of its file, which a migration
-- carries whole (npm run framework), followed by the call that regenerates every declared table.

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
-- framework:end db/framework/declaration/precog_backtest_runs_table.sql
-- framework:begin db/framework/declaration/precog_environment_policies.sql
-- Row-level security and grants of one tagged table, from its kind.
CREATE OR REPLACE FUNCTION precog_environment_policies(t regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  declared public.precog_environment_tables;
  env text;
  role_name text;
  roles text;
  writable text;
  policy record;
BEGIN
  SELECT * INTO declared FROM public.precog_environment_tables d WHERE d.table_name = t::text;
  SELECT string_agg(quote_ident('precog_' || e), ', ') INTO roles FROM unnest(enum_range(NULL::public.execution_environment)::text[]) e;
  -- Our policies only: the table's policies are rebuilt from the declaration.
  FOR policy IN SELECT p.polname FROM pg_policy p WHERE p.polrelid = t LOOP
    EXECUTE format('DROP POLICY %I ON %s', policy.polname, t);
  END LOOP;
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
  -- The environment roles pass the permissive policy and are each held to their own rows by a
  -- RESTRICTIVE one: restrictive policies are ANDed, so a login granted two environment roles
  -- sees no rows rather than both environments', and a refused write names the policy, which
  -- is named after the rule.
  EXECUTE format('CREATE POLICY environment_roles ON %s TO %s USING (true) WITH CHECK (true)', t, roles);
  EXECUTE format('COMMENT ON POLICY environment_roles ON %s IS %L', t, 'The environment roles may use the table; the restrictive [environment-role] policies decide which rows.');
  FOREACH env IN ARRAY enum_range(NULL::public.execution_environment)::text[] LOOP
    role_name := 'precog_' || env;
    EXECUTE format('CREATE POLICY %I ON %s AS RESTRICTIVE TO %I USING (execution_environment = %L) WITH CHECK (execution_environment = %L)',
                   '[environment-role] ' || env || ' rows only', t, role_name, env, env);
    EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', '[environment-role] ' || env || ' rows only', t, format('%s reads and writes %s rows only.', role_name, env));
  END LOOP;
  EXECUTE format('CREATE POLICY analyst_reads_all ON %s FOR SELECT TO precog_analyst USING (true)', t);
  EXECUTE format('COMMENT ON POLICY analyst_reads_all ON %s IS %L', t, 'precog_analyst reads every row (cross-environment analysis), writes none.');

  -- Grants: read and insert; update only what the kind lets change; delete never (backtest
  -- data goes through purge_backtest_data()).
  EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, %s, precog_analyst', t, roles);
  EXECUTE format('GRANT SELECT, INSERT ON %s TO %s', t, roles);
  EXECUTE format('GRANT SELECT ON %s TO precog_analyst', t);
  writable := CASE declared.kind
    WHEN 'versioned' THEN format('%I, %I', declared.current_column, declared.end_column)
    WHEN 'mutable' THEN (SELECT string_agg(quote_ident(c), ', ') FROM unnest(declared.mutable_columns) c)
  END;
  IF writable IS NOT NULL THEN
    EXECUTE format('GRANT UPDATE (%s) ON %s TO %s', writable, t, roles);
  END IF;
  FOR policy IN SELECT i.inhrelid::regclass AS partition FROM pg_inherits i WHERE i.inhparent = t LOOP
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, %s, precog_analyst', policy.partition, roles);
  END LOOP;
END;
$$;
COMMENT ON FUNCTION precog_environment_policies(regclass) IS
  'Used by precog_environment_table(): the row-level security policies ([environment-role]) and grants of a tagged table, from its declared kind.';
REVOKE ALL ON FUNCTION precog_environment_policies(regclass) FROM PUBLIC;
-- framework:end db/framework/declaration/precog_environment_policies.sql
-- framework:begin db/framework/declaration/precog_environment_reference.sql
-- A foreign key of a tagged table becomes a row of precog_environment_references, checked once
-- per statement rather than once per row (precog_environment_reference_checks): a foreign key
-- constraint probes the referenced table for every inserted row, which cost a bulk load of trades
-- more than every other rule together (BENCHMARKS.md). A reference to another tagged table keeps
-- the environment and the run: the key declared is (x_id, execution_environment,
-- backtest_run_id), the only unique key a tagged table has; the reference recorded is (x_id).
-- Only plain keys are converted (NO ACTION or RESTRICT, not deferrable, MATCH SIMPLE); a key with
-- actions to a shared table stays a constraint.
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
REVOKE ALL ON FUNCTION precog_environment_reference(oid) FROM PUBLIC;
-- framework:end db/framework/declaration/precog_environment_reference.sql
-- framework:begin db/framework/declaration/precog_environment_table.sql
-- The declaration: SELECT precog_environment_table('settlements', kind => 'append_only');
-- installs every guarantee of a tagged table for its kind (the table in README.md): the work per
-- environment (precog_environment_table_by_environment), then backtest runs
-- (precog_backtest_runs_table), then the reference checks of every table again, as they read
-- backtest_run_id, which the table may only now have. Idempotent: declaring again changes nothing.
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
END;
$$;
COMMENT ON FUNCTION precog_environment_table(text, text, text[], text[], text, text) IS
  'Declares an environment-tagged table and installs every guarantee for its kind (migrations 000010 and 000013): no default, NOT NULL, immutable environment, same-environment and same-run references, the kind''s write rules, live history kept, LIST partitions by environment and backtest run, row-level security and grants, and its row in precog_environment_tables. Idempotent.';
REVOKE ALL ON FUNCTION precog_environment_table(text, text, text[], text[], text, text) FROM PUBLIC;
-- framework:end db/framework/declaration/precog_environment_table.sql
-- framework:begin db/framework/declaration/precog_environment_table_by_environment.sql
-- The declaration's work per environment (migration 000010's precog_environment_table, renamed by
-- 000013 when runs came): checks the arguments (each refusal names the input and the fix), writes
-- the registry row, drops the default and sets NOT NULL ([environment-required]), partitions the
-- table by environment (precog_partition_by_environment), turns foreign keys into references
-- (precog_environment_reference, precog_environment_reference_checks), generates the identity
-- checks (precog_environment_id_checks), installs the guards' triggers ([environment-immutable],
-- the kind's write rules, [live-history-kept], [backtest-purged-together]), the versioned key
-- index and key guard, and the policies and grants (precog_environment_policies).
CREATE OR REPLACE FUNCTION precog_environment_table_by_environment(
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
  t regclass;
  environments text[] := enum_range(NULL::public.execution_environment)::text[];
  env text;
  partition regclass;
  fk record;
  column_name text;
BEGIN
  -- Arguments: every problem names the input and the fix.
  t := to_regclass(format('public.%I', table_name));
  IF t IS NULL THEN
    RAISE EXCEPTION 'precog_environment_table: table public.% does not exist', table_name
      USING ERRCODE = '42P01', HINT = 'Create the table first (CREATE TABLE IF NOT EXISTS ...), then declare it.';
  END IF;
  IF kind IS NULL OR kind NOT IN ('append_only', 'versioned', 'mutable') THEN
    RAISE EXCEPTION 'precog_environment_table(%): kind % is unknown', table_name, coalesce(quote_literal(kind), 'NULL')
      USING ERRCODE = '22023', HINT = 'kind => ''append_only'' (facts), ''versioned'' (SCD Type 2) or ''mutable'' (state with named mutable columns).';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t AND a.attname = 'execution_environment' AND NOT a.attisdropped
                    AND a.atttypid = 'public.execution_environment'::regtype) THEN
    RAISE EXCEPTION 'precog_environment_table(%): the table has no execution_environment column of type execution_environment', table_name
      USING ERRCODE = '42703', HINT = 'Add execution_environment execution_environment NOT NULL (no default) to the table.';
  END IF;
  IF kind = 'versioned' THEN
    IF coalesce(cardinality(business_key), 0) = 0 THEN
      RAISE EXCEPTION 'precog_environment_table(%): a versioned table needs its business key', table_name
        USING ERRCODE = '22023', HINT = format('SELECT precog_environment_table(%L, kind => ''versioned'', business_key => ARRAY[''position_key'']): the columns that identify what is versioned (add execution_environment to the key when each environment has its own, as a balance per platform does).', table_name);
    END IF;
    FOREACH column_name IN ARRAY business_key || ARRAY[current_column, end_column] LOOP
      IF NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t AND a.attname = column_name AND NOT a.attisdropped AND a.attnum > 0) THEN
        RAISE EXCEPTION 'precog_environment_table(%): column % does not exist', table_name, coalesce(column_name, 'NULL')
          USING ERRCODE = '42703', HINT = 'Name existing columns in business_key, current_column (default row_current_ind) and end_column (default row_end_ts).';
      END IF;
    END LOOP;
    mutable_columns := '{}';
  ELSIF kind = 'mutable' THEN
    IF coalesce(cardinality(mutable_columns), 0) = 0 THEN
      RAISE EXCEPTION 'precog_environment_table(%): a mutable table needs the columns that may change', table_name
        USING ERRCODE = '22023', HINT = format('SELECT precog_environment_table(%L, kind => ''mutable'', mutable_columns => ARRAY[''status'', ''filled_quantity'']).', table_name);
    END IF;
    FOREACH column_name IN ARRAY mutable_columns LOOP
      IF column_name = 'execution_environment'
         OR NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t AND a.attname = column_name AND NOT a.attisdropped AND a.attnum > 0)
         OR EXISTS (SELECT FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                     WHERE c.conrelid = t AND c.contype = 'p' AND a.attname = column_name) THEN
        RAISE EXCEPTION 'precog_environment_table(%): % cannot be a mutable column', table_name, coalesce(column_name, 'NULL')
          USING ERRCODE = '22023', HINT = 'Name existing columns other than execution_environment and the primary key in mutable_columns.';
      END IF;
    END LOOP;
    business_key := '{}';
  ELSE
    business_key := '{}';
    mutable_columns := '{}';
  END IF;
  IF kind <> 'versioned' THEN
    current_column := NULL;
    end_column := NULL;
  END IF;

  -- Every step below is idempotent: declaring again (current.sql runs on every save) reconciles
  -- the table with its declaration, and changes nothing when nothing changed.
  INSERT INTO public.precog_environment_tables AS d VALUES (table_name, kind, business_key, mutable_columns, current_column, end_column)
  ON CONFLICT ON CONSTRAINT precog_environment_tables_pkey DO UPDATE
    SET kind = excluded.kind, business_key = excluded.business_key, mutable_columns = excluded.mutable_columns,
        current_column = excluded.current_column, end_column = excluded.end_column;

  -- No silent default (precog bug #662), no row without an environment.
  EXECUTE format('ALTER TABLE %s ALTER COLUMN execution_environment DROP DEFAULT, ALTER COLUMN execution_environment SET NOT NULL', t);

  -- One partition per environment (and one for NULL, where [environment-required] is raised).
  PERFORM public.precog_partition_by_environment(t);
  t := format('public.%I', table_name)::regclass; -- a rebuilt table is a new relation
  FOREACH env IN ARRAY environments || ARRAY[NULL::text] LOOP
    partition := public.precog_environment_partition(t, env);
    IF partition IS NULL THEN
      EXECUTE format('CREATE TABLE public.%I PARTITION OF %s FOR VALUES IN (%s)', table_name || '_' || coalesce(env, 'environment_missing'), t,
                     coalesce(quote_literal(env), 'NULL'));
      partition := public.precog_environment_partition(t, env);
    END IF;
    -- A partition is read and written through its table only: no grants, and row-level
    -- security without a policy, so a mistaken GRANT on one still shows nobody a row.
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', partition);
    -- Before PostgreSQL 17 a partition does not inherit its table's identity: the owner's direct
    -- insert into one would need an id. It takes the next one from the table's sequence instead.
    FOR column_name IN
      SELECT a.attname FROM pg_attribute a JOIN pg_attribute p ON p.attrelid = partition AND p.attname = a.attname
       WHERE a.attrelid = t AND a.attidentity <> '' AND p.attidentity = '' AND NOT p.atthasdef
    LOOP
      EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT pg_catalog.nextval(%L::regclass)', partition, column_name,
                     pg_get_serial_sequence(t::text, column_name));
    END LOOP;
    EXECUTE format('COMMENT ON TABLE %s IS %L', partition, CASE WHEN env IS NULL
      THEN format('Partition of %s for a NULL execution_environment: always empty (NOT NULL); such an insert is refused here with [environment-required].', table_name)
      ELSE format('Partition of %s: its %s rows. Read and written through %s only (no grants; row-level security without policies).', table_name, env, table_name) END);
  END LOOP;

  -- Its foreign keys, and those of other tagged tables to it, become references checked per
  -- statement (those to another tagged table keep the environment), wherever the constraint was
  -- declared: on the table or per partition.
  FOR fk IN
    SELECT DISTINCT ON (coalesce(pg_partition_root(c.conrelid), c.conrelid), c.conkey) c.oid FROM pg_constraint c
      JOIN public.precog_environment_tables a ON a.table_name = (SELECT r.relname::text FROM pg_class r WHERE r.oid = coalesce(pg_partition_root(c.conrelid), c.conrelid))
     WHERE c.contype = 'f' AND c.conparentid = 0 AND (coalesce(pg_partition_root(c.conrelid), c.conrelid) = t OR coalesce(pg_partition_root(c.confrelid), c.confrelid) = t)
  LOOP
    PERFORM public.precog_environment_reference(fk.oid);
  END LOOP;
  FOR fk IN
    SELECT DISTINCT x.name FROM (
      SELECT table_name AS name
      UNION SELECT r.table_name FROM public.precog_environment_references r WHERE r.referenced_table = table_name
      UNION SELECT r.referenced_table FROM public.precog_environment_references r WHERE r.table_name = table_name) x
  LOOP
    PERFORM public.precog_environment_reference_checks(fk.name);
  END LOOP;
  PERFORM public.precog_environment_id_checks(table_name);

  -- The rules.
  EXECUTE format('CREATE OR REPLACE TRIGGER environment_required BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION public.precog_environment_required()',
                 public.precog_environment_partition(t, NULL));
  EXECUTE format('CREATE OR REPLACE TRIGGER environment_update_guard BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION public.precog_environment_update_guard(%s)', t,
                 (SELECT string_agg(quote_literal(a), ', ') FROM unnest(ARRAY[kind] || CASE kind WHEN 'versioned' THEN ARRAY[current_column, end_column] ELSE mutable_columns END) a));
  EXECUTE format('CREATE OR REPLACE TRIGGER live_history_kept BEFORE DELETE ON %s FOR EACH ROW EXECUTE FUNCTION public.precog_live_history_kept()',
                 public.precog_environment_partition(t, 'live'));
  -- TRUNCATE: refused on the table and its live and paper partitions; a backtest partition only
  -- together with every other (purge_backtest_data()), so that no reference is left dangling.
  EXECUTE format('CREATE OR REPLACE TRIGGER live_history_kept_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION public.precog_live_history_kept()', t);
  FOREACH env IN ARRAY array_remove(environments, 'backtest') LOOP
    EXECUTE format('CREATE OR REPLACE TRIGGER live_history_kept_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION public.precog_live_history_kept()',
                   public.precog_environment_partition(t, env));
  END LOOP;
  EXECUTE format('CREATE OR REPLACE TRIGGER backtest_purged_together BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION public.precog_backtest_purged_together()',
                 public.precog_environment_partition(t, 'backtest'));
  IF kind = 'versioned' THEN
    EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %s (%s) WHERE %I', table_name || '_one_current_version', t,
                   (SELECT string_agg(quote_ident(c), ', ') FROM unnest(array_remove(business_key, 'execution_environment') || ARRAY['execution_environment']) c), current_column);
    EXECUTE format('COMMENT ON INDEX %I IS %L', table_name || '_one_current_version',
                   format('SCD Type 2: at most one current version (%s) per %s and environment.', current_column, array_to_string(array_remove(business_key, 'execution_environment'), ', ')));
    IF NOT 'execution_environment' = ANY (business_key) THEN
      EXECUTE format('CREATE OR REPLACE TRIGGER environment_key_guard BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION public.precog_environment_key_guard(%s)', t,
                     (SELECT string_agg(quote_literal(c), ', ') FROM unnest(business_key) c));
      EXECUTE format($q$INSERT INTO public.precog_environment_keys SELECT DISTINCT %L, %s, execution_environment FROM %s ON CONFLICT DO NOTHING$q$, table_name,
                     CASE cardinality(business_key) WHEN 1 THEN format('(to_jsonb(r) ->> %L)', business_key[1])
                       ELSE format('(SELECT jsonb_agg(to_jsonb(r) -> c ORDER BY i)::text FROM unnest(%L::text[]) WITH ORDINALITY k(c, i))', business_key) END,
                     t || ' r');
    ELSE
      EXECUTE format('DROP TRIGGER IF EXISTS environment_key_guard ON %s', t);
    END IF;
  ELSE
    EXECUTE format('DROP TRIGGER IF EXISTS environment_key_guard ON %s', t);
  END IF;

  -- Row-level security: each environment's role sees and writes its own rows only.
  PERFORM public.precog_environment_policies(t);
END;
$$;
COMMENT ON FUNCTION precog_environment_table_by_environment(text, text, text[], text[], text, text) IS
  'Used by precog_environment_table(): the declaration of migration 000010 (environments: partitions, guards, references, policies, grants, registry). Idempotent.';
REVOKE ALL ON FUNCTION precog_environment_table(text, text, text[], text[], text, text) FROM PUBLIC;
-- framework:end db/framework/declaration/precog_environment_table_by_environment.sql
-- framework:begin db/framework/declaration/precog_partition_by_environment.sql
-- LIST-partitions a plain table by execution_environment, keeping its rows, ids, keys, indexes,
-- foreign keys, triggers and comments. A table already partitioned that way is left alone.
CREATE OR REPLACE FUNCTION precog_partition_by_environment(t regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  name text := t::text;
  old_name text := left(t::text, 48) || '_unpartitioned';
  kind "char";
  item record;
  constraints text[] := '{}';
  indexes text[] := '{}';
  triggers text[] := '{}';
  comments text[] := '{}';
  identities text[] := '{}';
  statement text;
BEGIN
  SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = t;
  IF kind = 'p' THEN
    IF pg_get_partkeydef(t) IS DISTINCT FROM 'LIST (execution_environment)' THEN
      RAISE EXCEPTION 'precog_environment_table(%): the table is partitioned by %, not LIST (execution_environment)', name, pg_get_partkeydef(t)
        USING ERRCODE = '42P16', HINT = 'Declare it PARTITION BY LIST (execution_environment), or as a plain table that precog_environment_table partitions.';
    END IF;
    RETURN;
  END IF;
  IF kind <> 'r' THEN
    RAISE EXCEPTION 'precog_environment_table(%): % is not a table', name, name USING ERRCODE = '42809';
  END IF;
  -- What would have to be rebuilt by hand: views over it, foreign keys into it, policies.
  SELECT string_agg(DISTINCT v.oid::regclass::text, ', ') INTO statement
    FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
   WHERE d.refobjid = t AND v.oid <> t;
  IF statement IS NOT NULL THEN
    RAISE EXCEPTION 'precog_environment_table(%): views % read the table, and partitioning it would drop them', name, statement
      USING ERRCODE = '2BP01', HINT = 'Declare the table before creating views over it (or drop and recreate them around the declaration).';
  END IF;
  SELECT string_agg(c.conname || ' on ' || c.conrelid::regclass::text, ', ') INTO statement FROM pg_constraint c WHERE c.confrelid = t AND c.conrelid <> t;
  IF statement IS NOT NULL THEN
    RAISE EXCEPTION 'precog_environment_table(%): foreign keys % reference the table', name, statement
      USING ERRCODE = '2BP01', HINT = 'Declare the table before the tables that reference it, and reference it by (id, execution_environment).';
  END IF;
  IF EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = t) THEN
    RAISE EXCEPTION 'precog_environment_table(%): the table has policies of its own', name
      USING ERRCODE = '55000', HINT = 'Drop them: the declaration installs the environment policies.';
  END IF;

  -- Keys and indexes come back on the partitioned table; a unique one must include the
  -- partition key, so execution_environment is appended where it is missing.
  FOR item IN
    SELECT c.conname, pg_get_constraintdef(c.oid) AS def, c.contype, obj_description(c.oid, 'pg_constraint') AS comment,
           'execution_environment' = ANY (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = t AND a.attnum = ANY (c.conkey)) AS has_env
      FROM pg_constraint c WHERE c.conrelid = t AND c.conparentid = 0 AND c.contype IN ('p', 'u', 'f', 'x') ORDER BY c.contype DESC, c.conname
  LOOP
    statement := item.def;
    IF item.contype IN ('p', 'u') AND NOT item.has_env THEN
      statement := regexp_replace(statement, '^((?:PRIMARY KEY|UNIQUE)(?: NULLS NOT DISTINCT)? \(.*?)\)', '\1, execution_environment)');
    END IF;
    constraints := constraints || format('ALTER TABLE %s ADD CONSTRAINT %I %s', name, item.conname, statement);
    IF item.comment IS NOT NULL THEN
      comments := comments || format('COMMENT ON CONSTRAINT %I ON %s IS %L', item.conname, name, item.comment);
    END IF;
  END LOOP;
  FOR item IN
    SELECT i.indexrelid::regclass::text AS index_name, pg_get_indexdef(i.indexrelid) AS def, i.indisunique, obj_description(i.indexrelid, 'pg_class') AS comment,
           'execution_environment' = ANY (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = t AND a.attnum = ANY (i.indkey)) AS has_env
      FROM pg_index i WHERE i.indrelid = t AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = t)
  LOOP
    statement := item.def;
    IF item.indisunique AND NOT item.has_env THEN
      statement := regexp_replace(statement, '^(.*? USING \w+ \(.*?)\)((?: INCLUDE \(.*?\))?(?: NULLS NOT DISTINCT)?(?: WHERE .*)?)$', '\1, execution_environment)\2');
    END IF;
    indexes := indexes || statement;
    IF item.comment IS NOT NULL THEN
      comments := comments || format('COMMENT ON INDEX %s IS %L', item.index_name, item.comment);
    END IF;
  END LOOP;
  FOR item IN SELECT pg_get_triggerdef(g.oid) AS def FROM pg_trigger g WHERE g.tgrelid = t AND NOT g.tgisinternal LOOP
    triggers := triggers || item.def;
  END LOOP;
  IF obj_description(t, 'pg_class') IS NOT NULL THEN
    comments := comments || format('COMMENT ON TABLE %s IS %L', name, obj_description(t, 'pg_class'));
  END IF;

  -- The table moves aside (with its identity sequences, so the new ones take their names)...
  EXECUTE format('ALTER TABLE %s RENAME TO %I', name, old_name);
  FOR item IN SELECT a.attname, pg_get_serial_sequence(format('public.%I', old_name), a.attname)::regclass AS seq
                FROM pg_attribute a WHERE a.attrelid = t AND a.attidentity <> '' LOOP
    EXECUTE format('ALTER SEQUENCE %s RENAME TO %I', item.seq, left(old_name, 40) || '_' || left(item.attname, 10) || '_seq');
    identities := identities || ARRAY[ARRAY[item.attname, item.seq::text]];
  END LOOP;
  -- ...and comes back partitioned, with its columns, NOT NULLs, CHECKs, defaults and identity.
  EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING COMMENTS INCLUDING CONSTRAINTS INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION) PARTITION BY LIST (execution_environment)',
                 name, old_name);
  FOREACH statement IN ARRAY enum_range(NULL::public.execution_environment)::text[] LOOP
    EXECUTE format('CREATE TABLE public.%I PARTITION OF public.%I FOR VALUES IN (%L)', name || '_' || statement, name, statement);
  END LOOP;
  EXECUTE format('CREATE TABLE public.%I PARTITION OF public.%I FOR VALUES IN (NULL)', name || '_environment_missing', name);
  EXECUTE format('INSERT INTO public.%I OVERRIDING SYSTEM VALUE SELECT * FROM public.%I', name, old_name);
  -- Identities continue after the highest value ever issued.
  FOR i IN 1 .. coalesce(array_length(identities, 1), 0) LOOP
    EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, %L), s.last_value, s.is_called) FROM %s s',
                   format('public.%I', name), identities[i][1], identities[i][2]);
  END LOOP;
  EXECUTE format('DROP TABLE public.%I', old_name);
  FOREACH statement IN ARRAY constraints || indexes || triggers || comments LOOP
    EXECUTE statement;
  END LOOP;
END;
$$;
COMMENT ON FUNCTION precog_partition_by_environment(regclass) IS
  'Used by precog_environment_table(): rebuilds a plain table as LIST-partitioned by execution_environment, keeping rows, ids, keys (unique ones extended with the environment), indexes, foreign keys, triggers and comments. Refuses a table with views, inbound foreign keys or policies.';
REVOKE ALL ON FUNCTION precog_partition_by_environment(regclass) FROM PUBLIC;
-- framework:end db/framework/declaration/precog_partition_by_environment.sql
-- framework:begin db/framework/generators/precog_environment_id_checks.sql
-- [identity-issued]: ids are the database's. An environment role that supplied its own (INSERT
-- ... OVERRIDING SYSTEM VALUE) could take an id the sequence will issue next (so that the live
-- application's next insert fails) or one another environment's row already has. Generates, for
-- table t, two statement triggers' functions: precog_ids_mark_<t>() notes the last id issued
-- before the statement, and precog_ids_<t>() refuses any id the statement inserts that was not
-- issued during it (after that mark, up to the sequence's last value). No table is read, however
-- many partitions there are. (Left: an id issued concurrently to another session's statement,
-- chosen in the same instant, passes; the other row then shares it in another environment.)
-- Only for callers bound by row-level security (the WHEN clause): the owner's bulk loads do not
-- pay. SECURITY DEFINER: they read the sequence.
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
COMMENT ON FUNCTION precog_environment_id_checks(text) IS
  'Used by precog_environment_table(): (re)generates precog_ids_<table>(), which refuses an identity value an environment role chose itself ([identity-issued]).';
REVOKE ALL ON FUNCTION precog_environment_id_checks(text) FROM PUBLIC;
-- framework:end db/framework/generators/precog_environment_id_checks.sql
-- framework:begin db/framework/generators/precog_environment_reference_checks.sql
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
COMMENT ON FUNCTION precog_environment_reference_checks(text) IS
  'Used by precog_environment_table(): (re)generates the statement-level reference checks of a tagged table and the delete guard of the rows referenced into it, from precog_environment_references.';
REVOKE ALL ON FUNCTION precog_environment_reference_checks(text) FROM PUBLIC;
-- framework:end db/framework/generators/precog_environment_reference_checks.sql
-- framework:begin db/framework/guards/precog_backtest_purged_together.sql
-- BEFORE TRUNCATE on <t>_backtest: only purge_backtest_data() truncates backtest partitions, all
-- of them in one statement, so a reference between two tagged tables never dangles (there is no
-- foreign key constraint to stop a TRUNCATE of a referenced partition alone).
CREATE OR REPLACE FUNCTION precog_backtest_purged_together() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF current_setting('precog.purging_backtests', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION '[backtest-purged-together] TRUNCATE of % is refused: only purge_backtest_data() empties backtest partitions, every one together, so that no reference is left dangling', TG_TABLE_NAME
      USING ERRCODE = 'P0001', TABLE = (SELECT c.relname::text FROM pg_class c WHERE c.oid = pg_partition_root(TG_RELID)),
            HINT = 'Remove backtest data with SELECT * FROM purge_backtest_data(): it empties every tagged table''s backtest partition together.';
  END IF;
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION precog_backtest_purged_together() IS
  'BEFORE TRUNCATE on the backtest partition of every tagged table: refused ([backtest-purged-together]) unless purge_backtest_data() is truncating every backtest partition together.';
-- framework:end db/framework/guards/precog_backtest_purged_together.sql
-- framework:begin db/framework/guards/precog_backtest_run_deleted.sql
-- BEFORE DELETE on backtest_runs: the run's rows go with it, every tagged table's partition
-- detached and moved to precog_purged (constant time, whatever the run's size).
-- SECURITY DEFINER: DETACH is the owner's; it detaches partitions of registered tables for this run only.
CREATE OR REPLACE FUNCTION precog_backtest_run_deleted() RETURNS trigger
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
-- framework:end db/framework/guards/precog_backtest_run_deleted.sql
-- framework:begin db/framework/guards/precog_backtest_run_required.sql
-- BEFORE INSERT on <t>_run_missing (every row reaching it), and on the live and paper
-- partitions WHEN the row names a run.
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
  'BEFORE INSERT on the <t>_run_missing partition of every tagged table (a backtest row without a run, or of an unknown one) and on its live and paper partitions when a row names a run: [backtest-run-required].';
-- framework:end db/framework/guards/precog_backtest_run_required.sql
-- framework:begin db/framework/guards/precog_environment_key_guard.sql
-- BEFORE INSERT on versioned tables whose key does not include the environment. TG_ARGV: the
-- key columns. Every version of a key keeps the environment and the backtest run of the first
-- ([environment-immutable]), registered in precog_environment_keys, whose primary key makes two
-- sessions creating one key from two environments serialise. SECURITY DEFINER: the key's first
-- environment must count whatever the caller's row-level security lets it see (a paper session
-- must not add a version to a live key it cannot see), and precog_environment_keys is granted to
-- nobody. It reads and writes only that table, with a pinned search_path.
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
COMMENT ON FUNCTION precog_environment_key_guard() IS
  'BEFORE INSERT on versioned tables whose business key does not include the environment: every version of a key carries the environment of the first ([environment-immutable], precog bug #662), registered in precog_environment_keys. SECURITY DEFINER so that versions hidden from the caller by row-level security still count.';
-- framework:end db/framework/guards/precog_environment_key_guard.sql
-- framework:begin db/framework/guards/precog_environment_required.sql
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
-- framework:end db/framework/guards/precog_environment_required.sql
-- framework:begin db/framework/guards/precog_environment_update_guard.sql
-- BEFORE UPDATE on every tagged table. TG_ARGV: kind, then for versioned the current and end
-- columns, for mutable the columns that may change.
CREATE OR REPLACE FUNCTION precog_environment_update_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  table_name text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = pg_partition_root(TG_RELID));
  kind text := TG_ARGV[0];
  old_row jsonb := to_jsonb(OLD);
  new_row jsonb := to_jsonb(NEW);
  allowed text[];
  changed text;
BEGIN
  IF NEW.execution_environment IS DISTINCT FROM OLD.execution_environment THEN
    RAISE EXCEPTION '[environment-immutable] %.execution_environment cannot change (% -> %)', table_name, OLD.execution_environment, NEW.execution_environment
      USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'execution_environment',
            HINT = 'A row stays in the environment it was written in; write a new row in the other environment instead.';
  END IF;
  IF kind = 'append_only' THEN
    RAISE EXCEPTION '[append-only] % is append-only: UPDATE of a % row is refused', table_name, OLD.execution_environment
      USING ERRCODE = 'P0001', TABLE = table_name,
            HINT = 'Record a correcting row instead of changing a recorded fact.';
  END IF;
  IF kind = 'versioned' THEN
    IF NOT (old_row ->> TG_ARGV[1])::boolean THEN
      RAISE EXCEPTION '[version-history-immutable] a superseded version of % (% = false) cannot change', table_name, TG_ARGV[1]
        USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = TG_ARGV[1],
              HINT = 'Superseded versions are history. Change the row by closing its current version and inserting a new one.';
    END IF;
    allowed := ARRAY[TG_ARGV[1], TG_ARGV[2]];
  ELSE
    allowed := TG_ARGV[1:];
  END IF;
  SELECT string_agg(n.key, ', ' ORDER BY n.key) INTO changed
    FROM jsonb_each(new_row) n JOIN jsonb_each(old_row) o USING (key)
   WHERE n.value IS DISTINCT FROM o.value AND n.key <> ALL (allowed);
  IF changed IS NOT NULL THEN
    IF kind = 'versioned' THEN
      RAISE EXCEPTION '[version-immutable] a current version of % can only be closed (% = false, % set); changed: %', table_name, TG_ARGV[1], TG_ARGV[2], changed
        USING ERRCODE = 'P0001', TABLE = table_name,
              HINT = 'SCD Type 2: close the current version and insert a new version with the changed columns (copying execution_environment forward).';
    END IF;
    RAISE EXCEPTION '[immutable-column] % may change only %; changed: %', table_name, array_to_string(allowed, ', '), changed
      USING ERRCODE = 'P0001', TABLE = table_name,
            HINT = 'Every other column is fixed when the row is written; write a new row instead.';
  END IF;
  IF kind = 'versioned' AND (new_row ->> TG_ARGV[1])::boolean AND (new_row -> TG_ARGV[2]) IS DISTINCT FROM (old_row -> TG_ARGV[2]) THEN
    RAISE EXCEPTION '[version-immutable] a current version of % can only be closed: % set without %  = false', table_name, TG_ARGV[2], TG_ARGV[1]
      USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = TG_ARGV[2],
            HINT = 'Close a version by setting both, in one UPDATE.';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION precog_environment_update_guard() IS
  'BEFORE UPDATE on every tagged table: the environment never changes ([environment-immutable]); append_only tables refuse every update ([append-only]); versioned tables refuse changes to superseded versions ([version-history-immutable]) and anything but closing a current one ([version-immutable]); mutable tables refuse changes outside their mutable columns ([immutable-column]). Configured by trigger arguments.';
-- framework:end db/framework/guards/precog_environment_update_guard.sql
-- framework:begin db/framework/guards/precog_live_history_kept.sql
-- BEFORE DELETE on <t>_live only: live rows are real-money history.
CREATE OR REPLACE FUNCTION precog_live_history_kept() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  table_name text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = pg_partition_root(TG_RELID));
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION '[live-history-kept] TRUNCATE of % is refused: it would delete live or paper history', TG_TABLE_NAME
      USING ERRCODE = 'P0001', TABLE = table_name,
            HINT = 'Remove backtest rows with purge_backtest_data(); live rows are never deleted.';
  END IF;
  RAISE EXCEPTION '[live-history-kept] %.execution_environment = live: DELETE of a live row is refused', table_name
    USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'execution_environment',
          HINT = 'Live rows are real-money history and are never deleted; record a correcting row instead. Backtest data is removed with purge_backtest_data().';
END;
$$;
COMMENT ON FUNCTION precog_live_history_kept() IS
  'BEFORE DELETE on the live partition of every tagged table, and BEFORE TRUNCATE on the table and its live and paper partitions: live history is never deleted ([live-history-kept]). Only backtest partitions may be truncated (purge_backtest_data()).';
-- framework:end db/framework/guards/precog_live_history_kept.sql
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
-- framework:end db/framework/load/precog_backtest_load_begin.sql
-- framework:begin db/framework/load/precog_backtest_load_finish.sql
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
  'Finishes a bulk load begun by precog_backtest_load_begin(): builds each staging table''s indexes, checks every rule set-wise ([identity-issued], [environment-immutable] keys, references within the run and to shared rows, locked FOR KEY SHARE), then attaches each as the run''s partition. A refusal rolls the whole load back.';
REVOKE ALL ON FUNCTION precog_backtest_load_finish(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_load_finish(bigint) TO precog_backtest;
-- framework:end db/framework/load/precog_backtest_load_finish.sql
-- framework:begin db/framework/partitions/precog_backtest_partition_guarded.sql
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
-- framework:end db/framework/partitions/precog_backtest_partition_guarded.sql
-- framework:begin db/framework/partitions/precog_backtest_run_partition.sql
-- The partition of t's backtest partition that holds run (NULL: the DEFAULT one, <t>_run_missing).
CREATE OR REPLACE FUNCTION precog_backtest_run_partition(t regclass, run bigint) RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = public.precog_environment_partition(t, 'backtest')
     AND pg_get_expr(c.relpartbound, c.oid) = CASE WHEN run IS NULL THEN 'DEFAULT' ELSE format('FOR VALUES IN (''%s'')', run) END
$$;
COMMENT ON FUNCTION precog_backtest_run_partition(regclass, bigint) IS
  'The partition of a tagged table that holds one backtest run''s rows (NULL: the always-empty DEFAULT one).';
-- framework:end db/framework/partitions/precog_backtest_run_partition.sql
-- framework:begin db/framework/partitions/precog_backtest_run_partition_create.sql
-- Creates run's partition of tagged table t (idempotent).
CREATE OR REPLACE FUNCTION precog_backtest_run_partition_create(t regclass, run bigint) RETURNS regclass
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
-- framework:end db/framework/partitions/precog_backtest_run_partition_create.sql
-- framework:begin db/framework/partitions/precog_backtest_run_partition_setup.sql
-- A run's partition (run NULL: the DEFAULT one, which refuses every row): guarded, and commented.
CREATE OR REPLACE FUNCTION precog_backtest_run_partition_setup(t regclass, partition regclass, run bigint) RETURNS void
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
-- framework:end db/framework/partitions/precog_backtest_run_partition_setup.sql
-- framework:begin db/framework/partitions/precog_environment_partition.sql
-- The partition of tagged table t that holds `environment` (NULL: the one for a NULL
-- environment), found by its bound rather than its name.
CREATE OR REPLACE FUNCTION precog_environment_partition(t regclass, environment text) RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = t
     AND pg_get_expr(c.relpartbound, c.oid) = CASE WHEN environment IS NULL THEN 'FOR VALUES IN (NULL)' ELSE format('FOR VALUES IN (%L)', environment) END
$$;
COMMENT ON FUNCTION precog_environment_partition(regclass, text) IS
  'The partition of a tagged table that holds one environment (NULL: the always-empty one for a NULL environment).';
-- framework:end db/framework/partitions/precog_environment_partition.sql
-- framework:begin db/framework/runs/create_backtest_run.sql
-- SECURITY DEFINER: a run's partitions are DDL, which precog_backtest may not run itself. It
-- reads the registry and creates partitions of registered tables only.
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
-- framework:end db/framework/runs/create_backtest_run.sql
-- framework:begin db/framework/runs/precog_backtest_legacy_run.sql
-- The one run that backtest rows written before runs existed are moved into (made once, on
-- first need).
CREATE OR REPLACE FUNCTION precog_backtest_legacy_run() RETURNS bigint
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
-- framework:end db/framework/runs/precog_backtest_legacy_run.sql
-- framework:begin db/framework/runs/precog_backtest_sweep.sql
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
  'Drops the partitions of deleted backtest runs (schema precog_purged), removing their files; returns how many tables it dropped. Executable by the owner and precog_backtest.';
REVOKE ALL ON FUNCTION precog_backtest_sweep() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_sweep() TO precog_backtest;
-- framework:end db/framework/runs/precog_backtest_sweep.sql
-- framework:begin db/framework/runs/purge_backtest_data.sql
-- Every backtest run at once, from the registry: the runs go with their rows (their partitions
-- are detached and swept, no row triggers); returns how many rows each tagged table held.
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
REVOKE ALL ON FUNCTION purge_backtest_data() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_backtest_data() TO precog_backtest;
-- framework:end db/framework/runs/purge_backtest_data.sql
-- framework:begin db/framework/runs/purge_backtest_run.sql
-- SECURITY DEFINER, as precog_backtest_run_deleted() is: deleting a run detaches its partitions,
-- which only the owner may; it deletes the one run named, and returns the run's row (no tagged row).
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
  'Deletes one backtest run and every row of it in every tagged table (its partitions are dropped: constant time); returns the run. Every other run, and live and paper, are untouched. Executable by the owner and precog_backtest.';
REVOKE ALL ON FUNCTION purge_backtest_run(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_backtest_run(bigint) TO precog_backtest;
-- framework:end db/framework/runs/purge_backtest_run.sql
