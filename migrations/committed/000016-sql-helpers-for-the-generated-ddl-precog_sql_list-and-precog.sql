--! Previous: sha1:5495930a1be0ed349eecda9bf3e50e6ce5ec9287
--! Hash: sha1:0578699f4467b3b513965f910d5046fbf14448e0
--! Message: SQL helpers for the generated DDL: precog_sql_list() and precog_sql_pairs(), used by the generators (what they generate is unchanged)

-- SQL helpers for the generated DDL: the column-list idiom (string_agg(format(...)) over
-- unnest(...) WITH ORDINALITY) and its quoting, written out in each generator, is now one function,
-- precog_sql_list() (and precog_sql_pairs() for two lists walked together). The generators use them;
-- what they generate is unchanged (declaring every table again, below, changes nothing else:
-- test/database/framework.test.ts).

-- framework:begin db/framework/ddl/precog_sql_list.sql
-- The generated DDL's one column-list idiom: every element of items formatted by template and
-- joined by separator, in the array's order. The template quotes as format() does: %I an
-- identifier, %L a literal, %s as it is. precog_sql_list(ARRAY['id', 'kind'], 'n.%I', ', ') is
-- 'n.id, n.kind'; an empty array gives NULL, as string_agg does.
CREATE OR REPLACE FUNCTION precog_sql_list(items text[], template text, separator text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT string_agg(format(template, x.item), separator ORDER BY x.i) FROM unnest(items) WITH ORDINALITY AS x(item, i)
$$;
COMMENT ON FUNCTION precog_sql_list(text[], text, text) IS
  'Used by the framework''s generators: each element of items formatted by template (format(): %I identifier, %L literal), joined by separator, in order.';
REVOKE ALL ON FUNCTION precog_sql_list(text[], text, text) FROM PUBLIC;
-- framework:end db/framework/ddl/precog_sql_list.sql

-- framework:begin db/framework/ddl/precog_sql_pairs.sql
-- The column-list idiom over two lists walked together (a reference's columns and the columns they
-- reference): template formatted with the i-th element of each, joined by separator.
-- precog_sql_pairs(ARRAY['id'], ARRAY['position_id'], 'r.%I = n.%I', ' AND ') is 'r.id = n.position_id'.
CREATE OR REPLACE FUNCTION precog_sql_pairs(lefts text[], rights text[], template text, separator text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT string_agg(format(template, x.l, x.r), separator ORDER BY x.i) FROM unnest(lefts, rights) WITH ORDINALITY AS x(l, r, i)
$$;
COMMENT ON FUNCTION precog_sql_pairs(text[], text[], text, text) IS
  'Used by the framework''s generators: template formatted with the i-th elements of lefts and rights (format(): %I identifier, %L literal), joined by separator, in order.';
REVOKE ALL ON FUNCTION precog_sql_pairs(text[], text[], text, text) FROM PUBLIC;
-- framework:end db/framework/ddl/precog_sql_pairs.sql

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
    WHEN 'mutable' THEN public.precog_sql_list(declared.mutable_columns, '%I', ', ')
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
                 public.precog_sql_list(ARRAY[kind] || CASE kind WHEN 'versioned' THEN ARRAY[current_column, end_column] ELSE mutable_columns END, '%L', ', '));
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
                   public.precog_sql_list(array_remove(business_key, 'execution_environment') || ARRAY['execution_environment'], '%I', ', '), current_column);
    EXECUTE format('COMMENT ON INDEX %I IS %L', table_name || '_one_current_version',
                   format('SCD Type 2: at most one current version (%s) per %s and environment.', current_column, array_to_string(array_remove(business_key, 'execution_environment'), ', ')));
    IF NOT 'execution_environment' = ANY (business_key) THEN
      EXECUTE format('CREATE OR REPLACE TRIGGER environment_key_guard BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION public.precog_environment_key_guard(%s)', t,
                     public.precog_sql_list(business_key, '%L', ', '));
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

SELECT precog_environment_redeclare();
