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
