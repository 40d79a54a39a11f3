-- One row: a run has no objects of its own.
CREATE OR REPLACE FUNCTION create_backtest_run(
  strategy_id integer,
  period_start timestamptz,
  period_end timestamptz,
  model_id integer DEFAULT NULL,
  parameters jsonb DEFAULT '{}',
  label text DEFAULT NULL
) RETURNS public.backtest_runs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  made public.backtest_runs;
BEGIN
  IF strategy_id IS NOT NULL AND NOT EXISTS (SELECT FROM public.strategies s WHERE s.strategy_id OPERATOR(pg_catalog.=) strategy_id) THEN
    RAISE EXCEPTION 'create_backtest_run: strategy_id % is no strategy', strategy_id
      USING ERRCODE = '23503', HINT = 'Pass the strategy_id of a row of strategies (the version that ran).';
  END IF;
  IF model_id IS NOT NULL AND NOT EXISTS (SELECT FROM public.probability_models m WHERE m.model_id OPERATOR(pg_catalog.=) model_id) THEN
    RAISE EXCEPTION 'create_backtest_run: model_id % is no probability model', model_id
      USING ERRCODE = '23503', HINT = 'Pass the model_id of a row of probability_models, or none.';
  END IF;
  INSERT INTO public.backtest_runs (strategy_id, model_id, strategy_version, model_version, parameters, period_start, period_end, label)
  VALUES (strategy_id, model_id,
          (SELECT s.strategy_version FROM public.strategies s WHERE s.strategy_id OPERATOR(pg_catalog.=) strategy_id),
          (SELECT m.model_version FROM public.probability_models m WHERE m.model_id OPERATOR(pg_catalog.=) model_id),
          coalesce(parameters, '{}'), period_start, period_end, label)
  RETURNING * INTO made;
  RETURN made;
END;
$$;
COMMENT ON FUNCTION create_backtest_run(integer, timestamptz, timestamptz, integer, jsonb, text) IS
  'Makes a backtest run (status created, made by the session''s login); returns the run. One row: every tagged table''s backtest partition holds every run. Executable by the owner and precog_backtest.';
REVOKE ALL ON FUNCTION create_backtest_run(integer, timestamptz, timestamptz, integer, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION create_backtest_run(integer, timestamptz, timestamptz, integer, jsonb, text) TO precog_backtest;
