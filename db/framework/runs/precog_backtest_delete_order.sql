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
