-- The one run that backtest rows written before runs existed are moved into (made once, on
-- first need).
CREATE OR REPLACE FUNCTION precog_backtest_legacy_run() RETURNS bigint
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
  WITH made AS (
    INSERT INTO public.backtest_runs (label, period_start, period_end, status, finished_at)
    SELECT 'backtest rows written before runs existed (migration 000013)', '-infinity', 'infinity', 'finished', pg_catalog.now()
     WHERE NOT EXISTS (SELECT FROM public.backtest_runs r WHERE r.label OPERATOR(pg_catalog.=) 'backtest rows written before runs existed (migration 000013)')
    RETURNING id)
  SELECT id FROM made
  UNION ALL
  SELECT r.id FROM public.backtest_runs r WHERE r.label OPERATOR(pg_catalog.=) 'backtest rows written before runs existed (migration 000013)'
  LIMIT 1
$$;
REVOKE ALL ON FUNCTION precog_backtest_legacy_run() FROM PUBLIC;
