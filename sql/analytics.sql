/*
  Analytics across execution environments (ADR-107, "cross-environment analysis"). These are
  the only queries over trades or positions without an :execution_environment parameter; each
  says why on its first line (-- cross-environment: ...) and returns execution_environment as a
  column, so no row can be mistaken for another environment's.
*/

/*
  Paper versus live (and backtest) performance side by side: one row per environment, in enum
  order (live, paper, backtest), present even with no activity (zeros, NULL averages).
  Trades executed in [from, to); positions closed (closed or settled, current version) with an
  exit in [from, to); positions open now. :strategy_id narrows everything to one strategy.
  notional is sum(price * quantity); realized_pnl is net of fees (see positions.sql).
*/
/* @name comparePaperAndLivePerformance */
-- cross-environment: compares environments side by side by design; every row names its environment
WITH environments AS (
  SELECT unnest(enum_range(NULL::execution_environment)) AS execution_environment
),
trade_stats AS (
  SELECT
    execution_environment,
    count(*) AS trade_count,
    sum(quantity) AS contracts,
    sum(price * quantity) AS notional,
    sum(fees) AS fees,
    avg(edge_value) AS average_edge
  FROM trades
  WHERE execution_time >= :from! AND execution_time < :to!
    AND (:strategy_id::integer IS NULL OR strategy_id = :strategy_id::integer)
  GROUP BY execution_environment
),
closed_stats AS (
  SELECT
    execution_environment,
    count(*) AS positions_closed,
    count(*) FILTER (WHERE realized_pnl > 0) AS winning_positions,
    sum(realized_pnl) AS realized_pnl
  FROM positions
  WHERE row_current_ind
    AND status IN ('closed', 'settled')
    AND exit_time >= :from! AND exit_time < :to!
    AND (:strategy_id::integer IS NULL OR strategy_id = :strategy_id::integer)
  GROUP BY execution_environment
),
open_stats AS (
  SELECT execution_environment, count(*) AS open_positions
  FROM positions
  WHERE row_current_ind
    AND status = 'open'
    AND (:strategy_id::integer IS NULL OR strategy_id = :strategy_id::integer)
  GROUP BY execution_environment
)
SELECT
  e.execution_environment,
  coalesce(t.trade_count, 0) AS trade_count,
  coalesce(t.contracts, 0) AS contracts,
  coalesce(t.notional, 0) AS notional,
  coalesce(t.fees, 0) AS fees,
  t.average_edge,
  coalesce(c.positions_closed, 0) AS positions_closed,
  coalesce(c.winning_positions, 0) AS winning_positions,
  coalesce(c.realized_pnl, 0) AS realized_pnl,
  coalesce(o.open_positions, 0) AS open_positions
FROM environments e
LEFT JOIN trade_stats t USING (execution_environment)
LEFT JOIN closed_stats c USING (execution_environment)
LEFT JOIN open_stats o USING (execution_environment)
ORDER BY e.execution_environment;

/*
  Trades for model training and feature engineering: paper and backtest only, never live
  (ADR-107's training_data_trades view), executed in [from, to), oldest first. The view hides
  NOT NULL from PostgreSQL's column metadata; codegen traces its columns to trades' instead.
*/
/* @name listTrainingDataTrades */
-- cross-environment: training data spans both non-live environments (paper, backtest), never live
-- environments: paper, backtest
SELECT
  id, market_id, position_id, strategy_id, model_id, order_id,
  side, price, quantity, fees,
  trade_source, order_type,
  execution_time, calculated_probability, market_price, edge_value,
  trade_metadata, created_at,
  execution_environment
FROM training_data_trades
WHERE execution_time >= :from! AND execution_time < :to!
ORDER BY execution_time, id;
