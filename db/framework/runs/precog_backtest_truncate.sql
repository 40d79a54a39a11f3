-- The one TRUNCATE of backtest rows: every backtest partition of every tagged table (from the
-- registry) in one statement, so that no run's rows are truncated under another table's rows that
-- reference them. [backtest-purged-together] refuses any other TRUNCATE; this one it lets through
-- because of the permits written here, for this backend and transaction, in a table no role can
-- write (a setting would be the caller's to SET). Not SECURITY DEFINER and executable by nobody:
-- purge_backtest_data() (owner's rights) calls it; a layout with one backtest partition per table
-- keeps it as is.
CREATE OR REPLACE FUNCTION precog_backtest_truncate() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  partitions regclass[];
BEGIN
  SELECT array_agg(public.precog_environment_partition(format('public.%I', d.table_name)::regclass, 'backtest') ORDER BY d.table_name)
    INTO partitions FROM public.precog_environment_tables d;
  IF partitions IS NULL THEN
    RETURN;
  END IF;
  DELETE FROM public.precog_truncate_permits p WHERE p.backend OPERATOR(pg_catalog.=) pg_backend_pid();
  INSERT INTO public.precog_truncate_permits (backend, transaction, relation)
    SELECT pg_backend_pid(), pg_current_xact_id(), p FROM unnest(partitions) p;
  EXECUTE format('TRUNCATE %s', (SELECT string_agg(p::text, ', ') FROM unnest(partitions) p));
  DELETE FROM public.precog_truncate_permits p WHERE p.backend OPERATOR(pg_catalog.=) pg_backend_pid();
END;
$$;
COMMENT ON FUNCTION precog_backtest_truncate() IS
  'Used by purge_backtest_data(): truncates every backtest partition of every tagged table in one statement, vouched for by rows of precog_truncate_permits ([backtest-purged-together]). Executable by nobody: the purge runs it with the owner''s rights.';
REVOKE ALL ON FUNCTION precog_backtest_truncate() FROM PUBLIC;
