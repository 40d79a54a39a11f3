/*
  Orders: what a strategy asked the exchange for, tagged with the execution environment
  (live: Kalshi's live API; paper: the demo API; backtest: simulated). Mutable state: only
  status, filled_quantity, average_fill_price and updated_at ever change (the database refuses
  anything else, [immutable-column]). A fill is a trade of the order's own environment.
  Every query takes :execution_environment! and returns execution_environment.
*/

/* Places an order: open, nothing filled yet. limit_price is required for limit and stop-limit orders. */
/* @name placeOrder */
INSERT INTO orders (
  platform_id, external_order_id, market_id, position_id, strategy_id, model_id, side, order_type,
  limit_price, quantity, execution_environment
)
VALUES (
  :platform_id!, :external_order_id, :market_id!, :position_id, :strategy_id, :model_id, :side!, :order_type!,
  :limit_price, :quantity!, :execution_environment!
)
RETURNING
  id, platform_id, external_order_id, market_id, position_id, strategy_id, model_id, side, order_type,
  limit_price, quantity, filled_quantity, average_fill_price, status, placed_at, updated_at, execution_environment;

/*
  Records a fill of an open order, in one statement: the order's filled quantity, average fill
  price and status move, and the fill is recorded as a trade of the same environment
  (trades.placed_order_id = the order). Returns no row when the order is not open (filled,
  cancelled, or not an order of this environment); overfilling it is refused
  (orders_filled_quantity_range). Concurrent fills of one order queue on its row.
*/
/* @name fillOrder */
-- @returns maybe
WITH filled AS (
  UPDATE orders o
  SET filled_quantity = o.filled_quantity + :quantity!,
      average_fill_price = round((coalesce(o.average_fill_price, 0) * o.filled_quantity + :price!::numeric * :quantity!) / (o.filled_quantity + :quantity!), 4),
      status = (CASE WHEN o.filled_quantity + :quantity! >= o.quantity THEN 'filled' ELSE 'partially_filled' END)::order_status,
      updated_at = statement_timestamp()
  WHERE o.id = :order_id!
    AND o.execution_environment = :execution_environment!
    AND o.status IN ('open', 'partially_filled')
  RETURNING
    o.id, o.market_id, o.position_id, o.strategy_id, o.model_id, o.external_order_id, o.side, o.order_type,
    o.quantity, o.filled_quantity, o.average_fill_price, o.status, o.execution_environment
),
trade AS (
  INSERT INTO trades (
    market_id, position_id, strategy_id, model_id, order_id, placed_order_id, side, price, quantity, fees,
    trade_source, order_type, execution_time, execution_environment
  )
  SELECT
    market_id, position_id, strategy_id, model_id, external_order_id, id, side, :price!, :quantity!, :fees!,
    :trade_source!, order_type, coalesce(:execution_time::timestamptz, statement_timestamp()), execution_environment
  FROM filled
  RETURNING id, placed_order_id, price, quantity, fees, execution_time, execution_environment
)
SELECT
  trade.id AS trade_id, filled.id AS order_id, filled.status,
  filled.quantity, filled.filled_quantity,
  filled.average_fill_price AS "average_fill_price!", trade.price AS fill_price,
  trade.quantity AS fill_quantity, trade.fees, trade.execution_time,
  trade.execution_environment
FROM trade
JOIN filled ON filled.id = trade.placed_order_id AND filled.execution_environment = trade.execution_environment;

/* Cancels what is left of an open order. Returns no row when it is not open. */
/* @name cancelOrder */
UPDATE orders
SET status = 'cancelled', updated_at = statement_timestamp()
WHERE id = :order_id!
  AND execution_environment = :execution_environment!
  AND status IN ('open', 'partially_filled')
RETURNING
  id, platform_id, external_order_id, market_id, position_id, strategy_id, model_id, side, order_type,
  limit_price, quantity, filled_quantity, average_fill_price, status, placed_at, updated_at, execution_environment;

/* Orders still resting (open or partially filled), oldest first. */
/* @name listOpenOrders */
SELECT
  id, platform_id, external_order_id, market_id, position_id, strategy_id, model_id, side, order_type,
  limit_price, quantity, filled_quantity, average_fill_price, status, placed_at, updated_at, execution_environment
FROM orders
WHERE execution_environment = :execution_environment!
  AND status IN ('open', 'partially_filled')
ORDER BY placed_at, id;

/* One order by id. */
/* @name getOrderById */
SELECT
  id, platform_id, external_order_id, market_id, position_id, strategy_id, model_id, side, order_type,
  limit_price, quantity, filled_quantity, average_fill_price, status, placed_at, updated_at, execution_environment
FROM orders
WHERE id = :order_id!
  AND execution_environment = :execution_environment!;
