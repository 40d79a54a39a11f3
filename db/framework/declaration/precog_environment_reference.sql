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
