--! Previous: sha1:2e4e79393460072c48b02f478331e12e93d3e914
--! Hash: sha1:b40361951baf712b2e43d57c2dcc0d33014c5544
--! Message: ADR-107 execution environments

-- 0002-execution-environment.sql
--
-- ADR-107 (single database, execution environments), "Migration Path"
-- (Precog's migration 0008): tag trades and positions with WHERE they executed.
-- Shared tables (markets, game_states, historical_*) get no environment column.
--
-- Differences from the ADR's literal SQL, all additive:
--   * Views list every column explicitly instead of SELECT *. A view's column list
--     is frozen when it is created anyway (PostgreSQL expands * at CREATE VIEW
--     time), so a column added to the table later must be added to the view
--     deliberately, and the generated query types stay stable.
--   * Views for positions (live/paper/backtest_positions) as well as trades.
--   * Views use WITH LOCAL CHECK OPTION, so an insert/update through e.g.
--     paper_trades that would produce a non-paper row is refused.
--   * Two composite indexes shaped like the real per-environment queries.
--
-- Runs inside the transaction graphile-migrate opens (no BEGIN/COMMIT here).

-- 1. ENUM type
CREATE TYPE execution_environment AS ENUM ('live', 'paper', 'backtest');
COMMENT ON TYPE execution_environment IS
  'ADR-107: WHERE a trade or position executed. live = Kalshi production API, real money; paper = Kalshi demo API, real-time, no money; backtest = no API, simulated over historical data with idealized fills. Orthogonal to trade_source (WHO created it).';

-- 2. trades (the 'live' default backfills pre-ADR rows; see the column comment)
ALTER TABLE trades
  ADD COLUMN execution_environment execution_environment NOT NULL DEFAULT 'live';
COMMENT ON COLUMN trades.execution_environment IS
  'ADR-107: WHERE the trade executed (live/paper/backtest). The DEFAULT ''live'' exists only so rows written before ADR-107 become live when the column is added; it is not a contract for new writes, which must always name their environment. A later migration removes the default.';

-- 3. positions
ALTER TABLE positions
  ADD COLUMN execution_environment execution_environment NOT NULL DEFAULT 'live';
COMMENT ON COLUMN positions.execution_environment IS
  'ADR-107: WHERE the position is held (live/paper/backtest); every SCD version of a position_key must carry the same value, so a new version copies it forward explicitly. The DEFAULT ''live'' exists only so rows written before ADR-107 become live when the column is added (relying on it for new versions is exactly the copy-forward bug that turned paper positions live); a later migration removes the default.';

-- 4. Convenience views, one environment each (explicit column lists)
CREATE VIEW live_trades AS
SELECT
  id,
  market_id,
  position_id,
  strategy_id,
  model_id,
  order_id,
  side,
  price,
  quantity,
  fees,
  trade_source,
  order_type,
  execution_time,
  calculated_probability,
  market_price,
  edge_value,
  trade_metadata,
  created_at,
  execution_environment
FROM trades
WHERE execution_environment = 'live'
WITH LOCAL CHECK OPTION;
COMMENT ON VIEW live_trades IS
  'Live (real-money, Kalshi production API) trades only. Writes through the view cannot create or move rows outside its environment (WITH CHECK OPTION).';

CREATE VIEW live_positions AS
SELECT
  id,
  position_key,
  market_id,
  strategy_id,
  model_id,
  side,
  entry_price,
  quantity,
  current_price,
  fees,
  status,
  unrealized_pnl,
  realized_pnl,
  trailing_stop_state,
  target_price,
  stop_loss_price,
  entry_time,
  exit_time,
  exit_price,
  exit_reason,
  calculated_probability,
  edge_at_entry,
  market_price_at_entry,
  row_current_ind,
  row_start_ts,
  row_end_ts,
  created_at,
  execution_environment
FROM positions
WHERE execution_environment = 'live'
WITH LOCAL CHECK OPTION;
COMMENT ON VIEW live_positions IS
  'Live (real-money, Kalshi production API) positions only, all SCD versions; add WHERE row_current_ind for current state. Writes through the view cannot create or move rows outside its environment (WITH CHECK OPTION).';

CREATE VIEW paper_trades AS
SELECT
  id,
  market_id,
  position_id,
  strategy_id,
  model_id,
  order_id,
  side,
  price,
  quantity,
  fees,
  trade_source,
  order_type,
  execution_time,
  calculated_probability,
  market_price,
  edge_value,
  trade_metadata,
  created_at,
  execution_environment
FROM trades
WHERE execution_environment = 'paper'
WITH LOCAL CHECK OPTION;
COMMENT ON VIEW paper_trades IS
  'Paper (Kalshi demo API, no money) trades only. Writes through the view cannot create or move rows outside its environment (WITH CHECK OPTION).';

CREATE VIEW paper_positions AS
SELECT
  id,
  position_key,
  market_id,
  strategy_id,
  model_id,
  side,
  entry_price,
  quantity,
  current_price,
  fees,
  status,
  unrealized_pnl,
  realized_pnl,
  trailing_stop_state,
  target_price,
  stop_loss_price,
  entry_time,
  exit_time,
  exit_price,
  exit_reason,
  calculated_probability,
  edge_at_entry,
  market_price_at_entry,
  row_current_ind,
  row_start_ts,
  row_end_ts,
  created_at,
  execution_environment
FROM positions
WHERE execution_environment = 'paper'
WITH LOCAL CHECK OPTION;
COMMENT ON VIEW paper_positions IS
  'Paper (Kalshi demo API, no money) positions only, all SCD versions; add WHERE row_current_ind for current state. Writes through the view cannot create or move rows outside its environment (WITH CHECK OPTION).';

CREATE VIEW backtest_trades AS
SELECT
  id,
  market_id,
  position_id,
  strategy_id,
  model_id,
  order_id,
  side,
  price,
  quantity,
  fees,
  trade_source,
  order_type,
  execution_time,
  calculated_probability,
  market_price,
  edge_value,
  trade_metadata,
  created_at,
  execution_environment
FROM trades
WHERE execution_environment = 'backtest'
WITH LOCAL CHECK OPTION;
COMMENT ON VIEW backtest_trades IS
  'Backtest (simulated over historical data, no API) trades only. Writes through the view cannot create or move rows outside its environment (WITH CHECK OPTION).';

CREATE VIEW backtest_positions AS
SELECT
  id,
  position_key,
  market_id,
  strategy_id,
  model_id,
  side,
  entry_price,
  quantity,
  current_price,
  fees,
  status,
  unrealized_pnl,
  realized_pnl,
  trailing_stop_state,
  target_price,
  stop_loss_price,
  entry_time,
  exit_time,
  exit_price,
  exit_reason,
  calculated_probability,
  edge_at_entry,
  market_price_at_entry,
  row_current_ind,
  row_start_ts,
  row_end_ts,
  created_at,
  execution_environment
FROM positions
WHERE execution_environment = 'backtest'
WITH LOCAL CHECK OPTION;
COMMENT ON VIEW backtest_positions IS
  'Backtest (simulated over historical data, no API) positions only, all SCD versions; add WHERE row_current_ind for current state. Writes through the view cannot create or move rows outside its environment (WITH CHECK OPTION).';

CREATE VIEW training_data_trades AS
SELECT
  id,
  market_id,
  position_id,
  strategy_id,
  model_id,
  order_id,
  side,
  price,
  quantity,
  fees,
  trade_source,
  order_type,
  execution_time,
  calculated_probability,
  market_price,
  edge_value,
  trade_metadata,
  created_at,
  execution_environment
FROM trades
WHERE execution_environment IN ('paper', 'backtest')
WITH LOCAL CHECK OPTION;
COMMENT ON VIEW training_data_trades IS
  'Non-live (paper and backtest) trades: trade outcomes for model training and feature engineering. Never contains live trades. Writes through the view cannot create or move rows outside its environment (WITH CHECK OPTION).';

-- 5. Indexes
-- The ADR's two single-column indexes.
CREATE INDEX idx_trades_environment ON trades (execution_environment);
COMMENT ON INDEX idx_trades_environment IS 'ADR-107: trades by execution environment.';
CREATE INDEX idx_positions_environment ON positions (execution_environment);
COMMENT ON INDEX idx_positions_environment IS 'ADR-107: positions by execution environment.';

-- Indexes for the queries the application actually runs, always scoped to one environment.
CREATE INDEX idx_trades_environment_execution_time ON trades (execution_environment, execution_time DESC, id DESC);
COMMENT ON INDEX idx_trades_environment_execution_time IS
  'Recent trades of one environment, newest first (ORDER BY execution_time DESC, id DESC; id breaks ties and supports keyset pagination).';
CREATE INDEX idx_positions_current_environment_status ON positions (execution_environment, status) WHERE row_current_ind;
COMMENT ON INDEX idx_positions_current_environment_status IS
  'Current positions of one environment by status, e.g. open positions the sell logic may act on.';
