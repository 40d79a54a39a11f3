--! Previous: sha1:cd8cd83a0f1196ce06034f5c19ca288dadcc43a3
--! Hash: sha1:b7bbe80065b135c05848e1764d058a49a6df4733
--! Message: Environment isolation from one declaration: precog_environment_table(); trades and positions move onto it

-- 000010: environment isolation from one declaration.
--
--   SELECT precog_environment_table('account_ledger', kind => 'append_only');
--
-- installs, from the table's own definition and its declared kind, every guarantee an
-- environment-tagged table has (trades and positions move onto it at the end of this file):
--
--   rule (in every refusal)         how it is enforced, and what it costs a bulk load
--   ------------------------------  ------------------------------------------------------------
--   [environment-required]          NOT NULL, no DEFAULT; a NULL row is routed to the partition
--                                   <t>_environment_missing, whose trigger names the rule (rows
--                                   that name their environment never run it)
--   [environment-immutable]         UPDATE trigger (updates only); for versioned tables whose key
--                                   does not include the environment, the key is registered once
--                                   in precog_environment_keys (primary key: concurrent creators of
--                                   one key from two environments serialise on it)
--   [environment-cross-reference]   every foreign key of a tagged table becomes a reference
--                                   (precog_environment_references) checked once per statement,
--                                   with the referenced rows locked FOR KEY SHARE as a foreign
--                                   key would; one to another tagged table carries the environment.
--                                   No constraint stands between the backtest partitions, which
--                                   truncate together, and a bulk load probes each referenced row
--                                   once, not once per inserted row
--   [append-only]                   append_only: UPDATE refused (trades, settlements, ledger)
--   [version-history-immutable]     versioned: a superseded version never changes
--   [version-immutable]             versioned: a current version may only be closed
--   [immutable-column]              mutable: only the named columns may change
--   [live-history-kept]             DELETE of a live row (trigger on the live partition only),
--                                   TRUNCATE of the table or its live and paper partitions
--   [backtest-purged-together]      TRUNCATE of a backtest partition but by purge_backtest_data(),
--                                   which empties every one together
--   [identity-issued]               ids are the database's: an environment role's insert of an
--                                   id the sequence has not issued, or another environment's, is
--                                   refused (a statement trigger, for row-level-security-bound
--                                   callers only: bulk loads by the owner do not pay for it)
--   [environment-role]              row-level security: each precog_<env> role reads and writes
--                                   its own rows only (a RESTRICTIVE policy named after the rule,
--                                   so the refusal names it); precog_analyst reads all
--
-- plus LIST partitioning by environment, grants, and a row in precog_environment_tables, the
-- registry that purge_backtest_data(), codegen, the lint, the docs and the tests read.
--
-- Calling it again with the same arguments changes nothing (current.sql runs on every save);
-- calling it again after adding a foreign key to another tagged table turns that key into a
-- same-environment reference.
-- Runs inside the transaction graphile-migrate opens (no BEGIN/COMMIT here).

--------------------------------------------------------------------------------
-- 1. The registry
--------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS precog_environment_tables (
  table_name       text PRIMARY KEY,
  kind             text NOT NULL CONSTRAINT precog_environment_tables_kind CHECK (kind IN ('append_only', 'versioned', 'mutable')),
  business_key     text[] NOT NULL DEFAULT '{}',
  mutable_columns  text[] NOT NULL DEFAULT '{}',
  current_column   text,
  end_column       text
);
COMMENT ON TABLE precog_environment_tables IS
  'Every environment-tagged table, as declared by precog_environment_table(): its kind and keys. Read by purge_backtest_data(), codegen, the lint, the docs and the tests. Written only by precog_environment_table().';
COMMENT ON COLUMN precog_environment_tables.kind IS
  'append_only: facts, never updated (trades, settlements, ledger). versioned: SCD Type 2, superseded versions immutable, a current version may only be closed (positions, account_balance). mutable: state whose named columns may change (an order''s status).';
COMMENT ON COLUMN precog_environment_tables.business_key IS
  'versioned: the columns that identify the thing being versioned (one current version per key and environment). When the key does not include execution_environment, every version of a key keeps the environment of the first.';
COMMENT ON COLUMN precog_environment_tables.mutable_columns IS 'mutable: the columns an UPDATE may change; every other column is fixed at insert.';
COMMENT ON COLUMN precog_environment_tables.current_column IS 'versioned: the boolean marking the current version (row_current_ind).';
COMMENT ON COLUMN precog_environment_tables.end_column IS 'versioned: the timestamp set when a version is closed (row_end_ts).';
REVOKE ALL ON precog_environment_tables FROM PUBLIC;

CREATE TABLE IF NOT EXISTS precog_environment_references (
  table_name          text NOT NULL REFERENCES precog_environment_tables,
  columns             text[] NOT NULL,
  referenced_table    text NOT NULL,
  referenced_columns  text[] NOT NULL,
  same_environment    boolean NOT NULL,
  PRIMARY KEY (table_name, columns)
);
COMMENT ON TABLE precog_environment_references IS
  'The foreign keys of tagged tables, as precog_environment_table() recorded them: columns of table_name -> referenced_columns of referenced_table, checked once per statement by the generated precog_references_<table>() and kept by precog_referenced_<referenced_table>(). same_environment: the referenced table is tagged too, and the reference includes execution_environment on both sides (a reference never crosses environments); codegen brands such columns as ids of the referenced table.';
REVOKE ALL ON precog_environment_references FROM PUBLIC;

CREATE TABLE IF NOT EXISTS precog_environment_keys (
  table_name             text NOT NULL,
  business_key  text NOT NULL,
  environment   execution_environment NOT NULL,
  PRIMARY KEY (table_name, business_key)
);
COMMENT ON TABLE precog_environment_keys IS
  'The environment of every business key of a versioned table whose key does not include the environment, registered by its first version. The primary key makes two sessions creating one key from two environments serialise: the second waits for the first and is then refused ([environment-immutable]). Written only by the trigger function precog_environment_key_guard().';
REVOKE ALL ON precog_environment_keys FROM PUBLIC;

--------------------------------------------------------------------------------
-- 2. The guards: generic trigger functions, configured by trigger arguments
--------------------------------------------------------------------------------
-- Each is a trigger function (it cannot be called directly), with its search_path pinned to
-- pg_catalog and every object of ours schema-qualified, so no object another role creates can
-- stand in for one it uses.

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

-- BEFORE INSERT on versioned tables whose key does not include the environment. TG_ARGV: the
-- key columns. SECURITY DEFINER: the key's first environment must count whatever the caller's
-- row-level security lets it see (a paper session must not add a version to a live key it
-- cannot see), and precog_environment_keys is granted to nobody. It reads and writes only that
-- table, with a pinned search_path.
CREATE OR REPLACE FUNCTION precog_environment_key_guard() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  root_table text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = pg_partition_root(TG_RELID));
  new_row jsonb := to_jsonb(NEW);
  key_text text;
  earlier public.execution_environment;
BEGIN
  IF NEW.execution_environment IS NULL THEN
    RETURN NEW; -- refused next, by the [environment-required] trigger of the NULL partition
  END IF;
  IF TG_NARGS = 1 THEN
    key_text := new_row ->> TG_ARGV[0];
  ELSE
    SELECT jsonb_agg(new_row -> c ORDER BY i)::text INTO key_text FROM unnest(TG_ARGV) WITH ORDINALITY AS k(c, i);
  END IF;
  INSERT INTO public.precog_environment_keys (table_name, business_key, environment)
  VALUES (root_table, key_text, NEW.execution_environment)
  ON CONFLICT ON CONSTRAINT precog_environment_keys_pkey DO NOTHING;
  IF NOT FOUND THEN
    SELECT k.environment INTO earlier FROM public.precog_environment_keys k
     WHERE k.table_name OPERATOR(pg_catalog.=) root_table
       AND k.business_key OPERATOR(pg_catalog.=) key_text;
    -- The refusal does not name the key's environment: a role must not learn it of a key it cannot see.
    IF earlier IS DISTINCT FROM NEW.execution_environment THEN
      RAISE EXCEPTION '[environment-immutable] %.execution_environment cannot change across versions of %: it belongs to another environment than %', root_table, key_text, NEW.execution_environment
        USING ERRCODE = 'P0001', TABLE = root_table, COLUMN = 'execution_environment',
              HINT = 'A new version copies execution_environment forward from the current version; use a new key for another environment.';
    END IF;
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION precog_environment_key_guard() IS
  'BEFORE INSERT on versioned tables whose business key does not include the environment: every version of a key carries the environment of the first ([environment-immutable], precog bug #662), registered in precog_environment_keys. SECURITY DEFINER so that versions hidden from the caller by row-level security still count.';

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

--------------------------------------------------------------------------------
-- 3. The declaration
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
COMMENT ON FUNCTION precog_environment_table(text, text, text[], text[], text, text) IS
  'Declares an environment-tagged table and installs every guarantee for its kind (see migration 000010): no default, NOT NULL, immutable environment, same-environment foreign keys, the kind''s write rules, live history kept, LIST partitions, row-level security and grants, and its row in precog_environment_tables. Idempotent.';
REVOKE ALL ON FUNCTION precog_environment_table(text, text, text[], text[], text, text) FROM PUBLIC;

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

-- A foreign key of a tagged table becomes a row of precog_environment_references, checked once
-- per statement rather than once per row (see precog_environment_reference_checks): a foreign
-- key constraint probes the referenced table for every inserted row, which cost a bulk load of
-- trades more than every other rule together (BENCHMARKS.md). A reference to another tagged
-- table keeps the environment: (position_id, execution_environment) -> positions (id,
-- execution_environment). Only plain keys are converted (NO ACTION or RESTRICT, not deferrable,
-- MATCH SIMPLE); a key with actions to a shared table stays a constraint.
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
      USING ERRCODE = '42830', HINT = format('Reference %s by (..., execution_environment) -> (%s, execution_environment).', to_table, array_to_string(array_remove(to_columns, 'execution_environment'), ', '));
  END IF;
  IF same_environment THEN
    from_columns := array_remove(from_columns, 'execution_environment');
    to_columns := array_remove(to_columns, 'execution_environment');
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

-- Generates, for table t, the statement-level check of its references and the delete
-- guard of the rows referenced into it, as static SQL (plans cached per session):
--   precog_references_<t>()   AFTER INSERT (and UPDATE of a mutable reference column) FOR EACH
--                             STATEMENT, on t and on each partition: locks the distinct
--                             referenced rows FOR KEY SHARE (as a foreign key does, once per
--                             key rather than per row), then refuses any reference to a row
--                             that is not in the referencing row's own environment.
--   precog_referenced_<t>()   BEFORE DELETE OR UPDATE OF its key FOR EACH ROW on t (tagged or
--                             shared): a referenced row is kept, and so is its key.
-- SECURITY DEFINER, as PostgreSQL's own foreign key checks run as the table owner: the check
-- must see and lock the referenced rows whatever the caller may read or update. The bodies
-- read only tables of the registry, with a pinned search_path.
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
    pairs := (SELECT string_agg(format('r.%I = n.%I', k, c), ' AND ' ORDER BY i) FROM unnest(ref.columns, ref.referenced_columns) WITH ORDINALITY x(c, k, i));
    not_null := (SELECT string_agg(format('n.%I IS NOT NULL', c), ' AND ' ORDER BY i) FROM unnest(ref.columns) WITH ORDINALITY x(c, i));
    checks := checks || format($body$
  -- (%1$s, execution_environment) -> %2$s (%3$s, execution_environment)
  PERFORM FROM public.%2$I r WHERE (%4$s, r.execution_environment) IN (SELECT %5$s, n.execution_environment FROM new_rows n WHERE %6$s) FOR KEY SHARE OF r;
  SELECT format('(%1$s) = (%%s)', concat_ws(', ', %5$s)) AS key, n.execution_environment AS environment
    INTO missing
    FROM new_rows n
   WHERE %6$s AND NOT EXISTS (SELECT FROM public.%2$I r WHERE %7$s AND r.execution_environment = n.execution_environment)
   LIMIT 1;
  -- One message whether the row is missing or of another environment: a role must not learn
  -- from a refusal that a row it cannot see exists elsewhere.
  IF FOUND THEN
    RAISE EXCEPTION '[environment-cross-reference] %8$s %% refers to no %% row of %2$s: a row references only rows of its own environment', missing.key, missing.environment
      USING ERRCODE = 'P0001', TABLE = %8$L, COLUMN = %9$L, CONSTRAINT = %10$L,
            HINT = 'Reference a row of the same environment (written first), or write this row in the environment of the row it references.';
  END IF;
$body$, array_to_string(ref.columns, ', '), ref.referenced_table, array_to_string(ref.referenced_columns, ', '),
        (SELECT string_agg(format('r.%I', k), ', ' ORDER BY i) FROM unnest(ref.referenced_columns) WITH ORDINALITY x(k, i)),
        key_of, not_null, pairs, table_name, ref.columns[1], left(table_name || '_' || array_to_string(ref.columns, '_') || '_reference', 63));
  END LOOP;
  -- A referenced row is kept: not deleted, and its key not changed (a shared table's can be).
  FOR ref IN SELECT * FROM public.precog_environment_references r WHERE r.referenced_table = table_name ORDER BY r.table_name, r.columns LOOP
    guards := guards || format($body$
  IF (TG_OP = 'DELETE' OR (%8$s) IS DISTINCT FROM (%9$s))
     AND EXISTS (SELECT FROM public.%1$I t WHERE %2$s%10$s) THEN
    RAISE EXCEPTION '%3$s row (%4$s) = (%%) is referenced by %1$s (%5$s); it is kept', concat_ws(', ', %6$s)
      USING ERRCODE = '23503', TABLE = %3$L, CONSTRAINT = %7$L,
            HINT = 'Delete the referencing rows first (backtest data: purge_backtest_data() removes every tagged table''s rows together).';
  END IF;
$body$, ref.table_name,
        (SELECT string_agg(format('t.%I = OLD.%I', c, k), ' AND ' ORDER BY i) FROM unnest(ref.columns, ref.referenced_columns) WITH ORDINALITY x(c, k, i)),
        table_name, array_to_string(ref.referenced_columns, ', '), array_to_string(ref.columns, ', '),
        (SELECT string_agg(format('OLD.%I', k), ', ' ORDER BY i) FROM unnest(ref.referenced_columns) WITH ORDINALITY x(k, i)),
        left(ref.table_name || '_' || array_to_string(ref.columns, '_') || '_reference', 63),
        (SELECT string_agg(format('OLD.%I', k), ', ' ORDER BY i) FROM unnest(ref.referenced_columns) WITH ORDINALITY x(k, i)),
        (SELECT string_agg(format('NEW.%I', k), ', ' ORDER BY i) FROM unnest(ref.referenced_columns) WITH ORDINALITY x(k, i)),
        CASE WHEN ref.same_environment THEN ' AND t.execution_environment = OLD.execution_environment' ELSE '' END);
  END LOOP;

  -- The triggers go first: a function is dropped only once nothing uses it.
  FOR partition IN SELECT t AS relation UNION ALL SELECT i.inhrelid::regclass FROM pg_inherits i WHERE i.inhparent = t LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS environment_references ON %s', partition.relation);
    EXECUTE format('DROP TRIGGER IF EXISTS environment_references_update ON %s', partition.relation);
  END LOOP;
  EXECUTE format('DROP TRIGGER IF EXISTS environment_referenced ON %s', t);
  IF checks <> '' THEN
    EXECUTE format($f$CREATE OR REPLACE FUNCTION public.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
  missing record;
BEGIN%s
  RETURN NULL;
END;
$body$$f$, check_function, checks);
    EXECUTE format('REVOKE ALL ON FUNCTION public.%I() FROM PUBLIC', check_function);
    EXECUTE format('COMMENT ON FUNCTION public.%I() IS %L', check_function,
                   format('Generated by precog_environment_table(): AFTER INSERT FOR EACH STATEMENT on %s and its partitions, the references of precog_environment_references: every reference is to a row of the same environment ([environment-cross-reference]). SECURITY DEFINER, as foreign key checks run as the owner.', table_name));
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

-- Ids are the database's: an environment role that supplies its own (INSERT ... OVERRIDING
-- SYSTEM VALUE) could take an id the sequence will issue next (so that the live application's
-- next insert fails) or one another environment's row already has. Generates, for table t,
-- precog_ids_<t>(): AFTER INSERT FOR EACH STATEMENT, only when the caller is bound by row-level
-- security (the WHEN clause: the owner's bulk loads never pay for it), refusing a new row whose
-- identity value the sequence has not issued yet, or that a row of another environment has.
-- SECURITY DEFINER: it must see every environment's rows and read the sequence.
CREATE OR REPLACE FUNCTION precog_environment_id_checks(table_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $gen$
#variable_conflict use_variable
DECLARE
  t regclass := format('public.%I', table_name)::regclass;
  checks text := '';
  identity record;
  check_function text := left('precog_ids_' || table_name, 63);
BEGIN
  FOR identity IN
    -- pg_get_serial_sequence gives the sequence schema-qualified, as the generated function needs.
    SELECT a.attname::text AS name, pg_get_serial_sequence(t::text, a.attname) AS sequence
      FROM pg_attribute a WHERE a.attrelid = t AND a.attidentity <> '' AND NOT a.attisdropped ORDER BY a.attnum
  LOOP
    checks := checks || format($body$
  SELECT n.%1$I AS id, n.execution_environment AS environment INTO chosen
    FROM new_rows n
   WHERE n.%1$I > (SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM %2$s s)
      OR EXISTS (SELECT FROM public.%3$I x WHERE x.%1$I = n.%1$I AND x.execution_environment <> n.execution_environment)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '[identity-issued] %3$s.%1$s = %% (%%) was not issued to this row by the database', chosen.id, chosen.environment
      USING ERRCODE = 'P0001', TABLE = %3$L, COLUMN = %1$L,
            HINT = 'Let the database issue ids: insert without the column (no OVERRIDING SYSTEM VALUE).';
  END IF;
$body$, identity.name, identity.sequence, table_name);
  END LOOP;
  EXECUTE format('DROP TRIGGER IF EXISTS environment_ids ON %s', t);
  IF checks = '' THEN
    EXECUTE format('DROP FUNCTION IF EXISTS public.%I()', check_function);
    RETURN;
  END IF;
  EXECUTE format($f$CREATE OR REPLACE FUNCTION public.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
  chosen record;
BEGIN%s
  RETURN NULL;
END;
$body$$f$, check_function, checks);
  EXECUTE format('REVOKE ALL ON FUNCTION public.%I() FROM PUBLIC', check_function);
  EXECUTE format('COMMENT ON FUNCTION public.%I() IS %L', check_function,
                 format('Generated by precog_environment_table(): AFTER INSERT FOR EACH STATEMENT on %s when the caller is bound by row-level security, refusing an identity value the database did not issue ([identity-issued]). SECURITY DEFINER: it reads every environment''s rows and the sequence.', table_name));
  EXECUTE format('CREATE TRIGGER environment_ids AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT WHEN (pg_catalog.row_security_active(%L::regclass)) EXECUTE FUNCTION public.%I()',
                 t, t::text, check_function);
END;
$gen$;
COMMENT ON FUNCTION precog_environment_id_checks(text) IS
  'Used by precog_environment_table(): (re)generates precog_ids_<table>(), which refuses an identity value an environment role chose itself ([identity-issued]).';
REVOKE ALL ON FUNCTION precog_environment_id_checks(text) FROM PUBLIC;

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

--------------------------------------------------------------------------------
-- 4. The purge, from the registry
--------------------------------------------------------------------------------
-- The result changes from (trades_deleted, positions_deleted) to a row per tagged table.
DROP FUNCTION IF EXISTS purge_backtest_data();
-- SECURITY DEFINER so that it is the one way to delete in bulk: no role has DELETE or TRUNCATE
-- on a tagged table, precog_backtest gets EXECUTE on this. It truncates backtest partitions only
-- (their names come from the registry; the live and paper partitions refuse TRUNCATE anyway),
-- all in one statement, so the references between tagged tables never dangle. A foreign key
-- from an untagged table into a tagged one would stand in the way: the error names it.
CREATE FUNCTION purge_backtest_data() RETURNS TABLE (table_name text, rows_deleted bigint)
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
  PERFORM set_config('precog.purging_backtests', 'on', true);
  FOR table_name IN SELECT d.table_name FROM public.precog_environment_tables d ORDER BY d.table_name LOOP
    EXECUTE format('SELECT count(*) FROM %s', public.precog_environment_partition(format('public.%I', table_name)::regclass, 'backtest')) INTO rows_deleted;
    RETURN NEXT;
  END LOOP;
  EXECUTE format('TRUNCATE %s', partitions);
  PERFORM set_config('precog.purging_backtests', 'off', true);
  DELETE FROM public.precog_environment_keys k WHERE k.environment OPERATOR(pg_catalog.=) 'backtest'::public.execution_environment;
END;
$$;
REVOKE ALL ON FUNCTION purge_backtest_data() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_backtest_data() TO precog_backtest;
COMMENT ON FUNCTION purge_backtest_data() IS
  'Empties the backtest partition of every tagged table in precog_environment_tables (one TRUNCATE: constant time, no row triggers), and nothing else; returns how many rows each held. Live rows are never deleted, paper rows are kept as training data. Executable by the owner and precog_backtest.';

--------------------------------------------------------------------------------
-- 5. trades and positions move onto the declaration (their data stays)
--------------------------------------------------------------------------------
-- The hand-written guards of 000003-000009 go; the declaration installs the same rules.
DROP TRIGGER IF EXISTS trades_environment_required ON trades;
DROP TRIGGER IF EXISTS trades_guard_insert ON trades;
DROP TRIGGER IF EXISTS trades_guard_update ON trades;
DROP TRIGGER IF EXISTS trades_guard_delete ON trades;
DROP TRIGGER IF EXISTS trades_role_environment ON trades;
DROP TRIGGER IF EXISTS trades_refuse_truncate ON trades;
DROP TRIGGER IF EXISTS trades_refuse_truncate ON trades_live;
DROP TRIGGER IF EXISTS trades_refuse_truncate ON trades_paper;
DROP TRIGGER IF EXISTS positions_environment_required ON positions;
DROP TRIGGER IF EXISTS positions_guard_insert ON positions;
DROP TRIGGER IF EXISTS positions_guard_update ON positions;
DROP TRIGGER IF EXISTS positions_guard_delete ON positions;
DROP TRIGGER IF EXISTS positions_role_environment ON positions;
DROP TRIGGER IF EXISTS positions_refuse_truncate ON positions;
DROP TRIGGER IF EXISTS positions_refuse_truncate ON positions_live;
DROP TRIGGER IF EXISTS positions_refuse_truncate ON positions_paper;
DROP FUNCTION IF EXISTS trades_guard_insert();
DROP FUNCTION IF EXISTS trades_guard_update();
DROP FUNCTION IF EXISTS trades_guard_delete();
DROP FUNCTION IF EXISTS positions_guard_insert();
DROP FUNCTION IF EXISTS positions_guard_update();
DROP FUNCTION IF EXISTS positions_guard_delete();
DROP FUNCTION IF EXISTS require_execution_environment();
DROP FUNCTION IF EXISTS enforce_environment_role();
DROP FUNCTION IF EXISTS refuse_truncate();
-- Replaced by positions_one_current_version (the same columns and predicate).
DROP INDEX IF EXISTS positions_current_position_key_key;

SELECT precog_environment_table('positions', kind => 'versioned', business_key => ARRAY['position_key']);
SELECT precog_environment_table('trades', kind => 'append_only');
