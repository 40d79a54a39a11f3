/*
  Trades: fills, as append-only facts tagged with the execution environment (ADR-107).
  Every query takes :execution_environment! and returns execution_environment, so the
  scoped layer can bind the environment and check every row it gets back.
*/

/*
  Records one fill. fees and trade_source are required: a fill with unknown fees or an
  unknown author is not recorded by default. execution_time defaults to now(); a backtest
  passes its simulated time.
*/
/* @name recordTrade */
INSERT INTO trades (
  market_id, position_id, strategy_id, model_id, order_id, side, price, quantity, fees,
  trade_source, order_type, execution_time, calculated_probability, market_price, edge_value,
  trade_metadata, execution_environment
)
VALUES (
  :market_id!, :position_id, :strategy_id, :model_id, :order_id, :side!, :price!, :quantity!, :fees!,
  :trade_source!, :order_type!, coalesce(:execution_time::timestamptz, now()),
  :calculated_probability, :market_price, :edge_value,
  coalesce(:trade_metadata::jsonb, '{}'), :execution_environment!
)
RETURNING
  id, market_id, position_id, strategy_id, model_id, order_id, side, price, quantity, fees,
  trade_source, order_type, execution_time, calculated_probability, market_price, edge_value,
  trade_metadata, created_at, execution_environment;

/*
  Records many fills of one environment in one set-based statement (a backtest writes
  thousands): element i of every array is fill i, so all arrays must have the same length
  (precog-db refuses unequal lengths before the query runs). Returns the ids, in input order:
  a backtest writing 100,000 fills has no use for 100,000 echoed rows, and decoding them would
  cost more than the insert.
*/
/* @name recordTrades */
WITH inserted AS (
  INSERT INTO trades (
    market_id, position_id, strategy_id, model_id, order_id, side, price, quantity, fees,
    trade_source, order_type, execution_time, calculated_probability, market_price, edge_value,
    trade_metadata, execution_environment
  )
  SELECT
    fill.market_id, fill.position_id, fill.strategy_id, fill.model_id, fill.order_id, fill.side,
    fill.price, fill.quantity, fill.fees, fill.trade_source, fill.order_type,
    coalesce(fill.execution_time, now()), fill.calculated_probability, fill.market_price,
    fill.edge_value, coalesce(fill.trade_metadata, '{}'), :execution_environment!
  FROM unnest(
    :market_ids!::text[], :position_ids!::integer[], :strategy_ids!::integer[], :model_ids!::integer[],
    :order_ids!::text[], :sides!::trade_side[], :prices!::numeric[], :quantities!::integer[],
    :fees!::numeric[], :trade_sources!::trade_source[], :order_types!::order_type[],
    :execution_times!::timestamptz[], :calculated_probabilities!::numeric[],
    :market_prices!::numeric[], :edge_values!::numeric[], :trade_metadata!::jsonb[]
  ) WITH ORDINALITY AS fill (
    market_id, position_id, strategy_id, model_id, order_id, side, price, quantity, fees,
    trade_source, order_type, execution_time, calculated_probability, market_price, edge_value,
    trade_metadata, ordinal
  )
  ORDER BY fill.ordinal
  RETURNING id, execution_environment
)
SELECT id, execution_environment
FROM inserted
ORDER BY id;

/*
  Records a few fills of one environment, pgtyped's way: an array of picks, each fill an object
  whose fields keep their own `!`. The scope binds execution_environment in every row. For
  thousands of fills, recordTrades (parallel arrays, one statement text) is the faster.
*/
/*
  @name recordFills
  @param fills -> ((market_id!, position_id, side!, price!, quantity!, fees!, trade_source!, order_type!, execution_environment)...)
*/
INSERT INTO trades (market_id, position_id, side, price, quantity, fees, trade_source, order_type, execution_environment)
VALUES :fills
RETURNING id, market_id, position_id, side, price, quantity, fees, execution_time, execution_environment;

/* @name listTradesByMarket */
SELECT
  id, market_id, position_id, strategy_id, model_id, order_id, side, price, quantity, fees,
  trade_source, order_type, execution_time, calculated_probability, market_price, edge_value,
  trade_metadata, created_at, execution_environment
FROM trades
WHERE market_id = :market_id!
  AND execution_environment = :execution_environment!
ORDER BY execution_time DESC, id DESC;

/* @name listTradesByStrategy */
SELECT
  id, market_id, position_id, strategy_id, model_id, order_id, side, price, quantity, fees,
  trade_source, order_type, execution_time, calculated_probability, market_price, edge_value,
  trade_metadata, created_at, execution_environment
FROM trades
WHERE strategy_id = :strategy_id!
  AND execution_environment = :execution_environment!
ORDER BY execution_time DESC, id DESC;

/*
  Newest first; served by idx_trades_environment_execution_time (same column order).
*/
/* @name listRecentTrades */
SELECT
  id, market_id, position_id, strategy_id, model_id, order_id, side, price, quantity, fees,
  trade_source, order_type, execution_time, calculated_probability, market_price, edge_value,
  trade_metadata, created_at, execution_environment
FROM trades
WHERE execution_environment = :execution_environment!
ORDER BY execution_time DESC, id DESC
LIMIT :limit!;

/*
  A trade of another environment is not found: the id alone is not enough.
*/
/* @name getTradeById */
SELECT
  id, market_id, position_id, strategy_id, model_id, order_id, side, price, quantity, fees,
  trade_source, order_type, execution_time, calculated_probability, market_price, edge_value,
  trade_metadata, created_at, execution_environment
FROM trades
WHERE id = :id!
  AND execution_environment = :execution_environment!;
