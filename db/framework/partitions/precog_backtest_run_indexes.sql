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
