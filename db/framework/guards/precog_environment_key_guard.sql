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
  'BEFORE INSERT on versioned tables whose business key does not include the environment: every version of a key carries the environment (and run) of the first ([environment-immutable], precog bug #662), registered in precog_environment_keys; it runs for the versioned tables of the registry only, with their key ([trigger-misplaced]). SECURITY DEFINER so that versions hidden from the caller by row-level security still count. Executable by nobody: triggers run it.';
REVOKE ALL ON FUNCTION precog_environment_key_guard() FROM PUBLIC;
