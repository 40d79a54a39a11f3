/*
  Strategies: versioned configurations that trades, positions and backtest runs are attributed
  to (shared: no environment). A new version is a new row: (strategy_name, strategy_version) is
  unique, and a run records the version it ran (backtest_runs.strategy_id).
*/

/* @name createStrategy */
INSERT INTO strategies (strategy_name, strategy_version, description, config)
VALUES (:strategy_name!, :strategy_version!, :description, coalesce(:config::jsonb, '{}'))
RETURNING strategy_id, strategy_name, strategy_version, description, config, status, created_at;
