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

  -- precog_backtest reads the rows of the run its transaction entered while that run exists, and
  -- writes rows of that run only: the run is recorded by precog_enter_backtest_run() where no caller
  -- writes (a setting, which any statement can SET and which outlives its transaction when set for
  -- the session, opens nothing).
  EXECUTE format('DROP POLICY IF EXISTS %I ON %s', '[backtest-run] rows of the transaction''s run only', t);
  EXECUTE format($q$CREATE POLICY %I ON %s AS RESTRICTIVE TO precog_backtest
                    USING (backtest_run_id = (SELECT r.id FROM public.backtest_runs r WHERE r.id = (SELECT public.precog_backtest_run())))
                    WITH CHECK (backtest_run_id = (SELECT public.precog_backtest_run()))$q$,
                 '[backtest-run] rows of the transaction''s run only', t);
  EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', '[backtest-run] rows of the transaction''s run only', t,
                 'precog_backtest reads the rows of the run its transaction entered (precog_enter_backtest_run(); no setting opens a run) while that run exists, writes rows of that run only, and none without one.');
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
