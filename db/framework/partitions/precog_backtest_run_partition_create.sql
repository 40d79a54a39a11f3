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
