/*
  Positions: SCD Type 2 keyed by position_key, tagged with the execution environment (ADR-107).
  Every query takes :execution_environment! and returns execution_environment.

  Each change (price, trailing stop, close) is ONE statement: lock the current version, close
  it, and insert the next version copying EVERY column forward, execution_environment
  included (Precog's bug #662: a copy-forward that left it out fell back to the column default
  'live' and turned paper positions into live ones).

  Concurrency: the current version is locked FOR UPDATE, so a second writer of the same
  position waits. Under READ COMMITTED, when the first commits, the locked row is no longer
  current and the new version is not in the second statement's snapshot: the second writer
  would get ZERO rows and write nothing. So these statements are marked `-- scd-write`, and
  precog-db runs them under REPEATABLE READ, where the second writer fails with a
  serialization error instead, and retries on top of the new version: no update is lost.
  (Inside a transaction of your own, use scope.transaction(body, { isolation: 'repeatable
  read', retries: n }) for the same.) The partial unique index
  positions_current_position_key_key guarantees one current version whatever happens.

  The version closed is matched on (id, execution_environment), the primary key: positions is
  partitioned by environment, and an id alone is not a key.

  The closing timestamp is greatest(statement_timestamp(), row_start_ts): now() is the
  transaction's start, which can be earlier than the start of a version a concurrent
  transaction wrote meanwhile, and row_end_ts >= row_start_ts is a CHECK.

  P&L: dollars per contract times contracts, for the contract held (YES or NO).
  unrealized_pnl = (current_price - entry_price) * quantity, gross of fees;
  realized_pnl = (exit_price - entry_price) * quantity - all fees (entry and exit).
*/

/*
  Opens a position: a new business key 'POS-{n}' from position_key_seq (deliberately no
  column default, see the sequence's comment). The first current price is the entry price.
  Both calls are schema-qualified: with a quoted literal, nextval('...') would prefer a text
  overload planted in public over pg_catalog's regclass one (the CVE-2018-1058 pattern).
*/
/* @name openPosition */
INSERT INTO positions (
  position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, trailing_stop_state, target_price, stop_loss_price, entry_time,
  calculated_probability, edge_at_entry, market_price_at_entry, execution_environment
)
VALUES (
  pg_catalog.concat('POS-', pg_catalog.nextval('public.position_key_seq'::regclass)), :market_id!, :strategy_id, :model_id, :side!,
  :entry_price!, :quantity!, :entry_price!, :fees!, 'open', 0, :trailing_stop_state,
  :target_price, :stop_loss_price, coalesce(:entry_time::timestamptz, now()),
  :calculated_probability, :edge_at_entry, :market_price_at_entry, :execution_environment!
)
RETURNING
  id, position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment;

/* New SCD version with a new current price and the unrealized P&L at that price. */
/* @name updatePositionPrice */
-- @returns maybe
-- scd-write: a concurrent writer of the same key makes this fail under REPEATABLE READ; precog-db retries it
WITH current_version AS (
  SELECT id, execution_environment, greatest(statement_timestamp(), row_start_ts) AS changed_at
  FROM positions
  WHERE position_key = :position_key!
    AND execution_environment = :execution_environment!
    AND row_current_ind
    AND status = 'open'
  FOR UPDATE
),
closed AS (
  UPDATE positions p
  SET row_current_ind = false, row_end_ts = current_version.changed_at
  FROM current_version
  WHERE p.id = current_version.id
    AND p.execution_environment = current_version.execution_environment
  RETURNING
    p.position_key, p.market_id, p.strategy_id, p.model_id, p.side, p.entry_price, p.quantity,
    p.current_price, p.fees, p.status, p.unrealized_pnl, p.realized_pnl, p.trailing_stop_state,
    p.target_price, p.stop_loss_price, p.entry_time, p.exit_time, p.exit_price, p.exit_reason,
    p.calculated_probability, p.edge_at_entry, p.market_price_at_entry, p.created_at,
    p.execution_environment, current_version.changed_at
)
INSERT INTO positions (
  position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment
)
SELECT
  position_key, market_id, strategy_id, model_id, side, entry_price, quantity,
  :current_price!,                                  -- changed
  fees, status,
  (:current_price! - entry_price) * quantity,       -- changed
  realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, true, changed_at, NULL, created_at, execution_environment
FROM closed
RETURNING
  id, position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment;

/* New SCD version with the trailing-stop state (activation, peak, current stop) replaced. */
/* @name setTrailingStopState */
-- @returns maybe
-- scd-write: a concurrent writer of the same key makes this fail under REPEATABLE READ; precog-db retries it
WITH current_version AS (
  SELECT id, execution_environment, greatest(statement_timestamp(), row_start_ts) AS changed_at
  FROM positions
  WHERE position_key = :position_key!
    AND execution_environment = :execution_environment!
    AND row_current_ind
    AND status = 'open'
  FOR UPDATE
),
closed AS (
  UPDATE positions p
  SET row_current_ind = false, row_end_ts = current_version.changed_at
  FROM current_version
  WHERE p.id = current_version.id
    AND p.execution_environment = current_version.execution_environment
  RETURNING
    p.position_key, p.market_id, p.strategy_id, p.model_id, p.side, p.entry_price, p.quantity,
    p.current_price, p.fees, p.status, p.unrealized_pnl, p.realized_pnl, p.trailing_stop_state,
    p.target_price, p.stop_loss_price, p.entry_time, p.exit_time, p.exit_price, p.exit_reason,
    p.calculated_probability, p.edge_at_entry, p.market_price_at_entry, p.created_at,
    p.execution_environment, current_version.changed_at
)
INSERT INTO positions (
  position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment
)
SELECT
  position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, realized_pnl,
  :trailing_stop_state!::jsonb,                     -- changed
  target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, true, changed_at, NULL, created_at, execution_environment
FROM closed
RETURNING
  id, position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment;

/*
  Closes an open position (final SCD version, status 'closed'): exit price, time and reason,
  the exit fees added to the position's fees, and the realized P&L net of all fees.
  exit_time defaults to the statement time; a backtest passes its simulated time.
*/
/* @name closePosition */
-- @returns maybe
-- scd-write: a concurrent writer of the same key makes this fail under REPEATABLE READ; precog-db retries it
WITH current_version AS (
  SELECT id, execution_environment, greatest(statement_timestamp(), row_start_ts) AS changed_at
  FROM positions
  WHERE position_key = :position_key!
    AND execution_environment = :execution_environment!
    AND row_current_ind
    AND status = 'open'
  FOR UPDATE
),
closed AS (
  UPDATE positions p
  SET row_current_ind = false, row_end_ts = current_version.changed_at
  FROM current_version
  WHERE p.id = current_version.id
    AND p.execution_environment = current_version.execution_environment
  RETURNING
    p.position_key, p.market_id, p.strategy_id, p.model_id, p.side, p.entry_price, p.quantity,
    p.current_price, p.fees, p.status, p.unrealized_pnl, p.realized_pnl, p.trailing_stop_state,
    p.target_price, p.stop_loss_price, p.entry_time, p.exit_time, p.exit_price, p.exit_reason,
    p.calculated_probability, p.edge_at_entry, p.market_price_at_entry, p.created_at,
    p.execution_environment, current_version.changed_at
)
INSERT INTO positions (
  position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment
)
SELECT
  position_key, market_id, strategy_id, model_id, side, entry_price, quantity,
  :exit_price!,                                                     -- changed: last price
  fees + :exit_fees!,                                               -- changed
  'closed',                                                         -- changed
  0,                                                                -- changed: nothing unrealized
  (:exit_price! - entry_price) * quantity - (fees + :exit_fees!),   -- changed
  trailing_stop_state, target_price, stop_loss_price, entry_time,
  coalesce(:exit_time::timestamptz, changed_at),                    -- changed
  :exit_price!,                                                     -- changed
  :exit_reason!,                                                    -- changed
  calculated_probability, edge_at_entry,
  market_price_at_entry, true, changed_at, NULL, created_at, execution_environment
FROM closed
RETURNING
  id, position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment;

/*
  Current open positions with their unrealized P&L at the market's current price (the current
  markets version of the position's market_id; YES positions at yes_price, NO at no_price).
  market_price and the P&L at market are NULL when the market has no current row.
*/
/* @name listOpenPositions */
SELECT
  p.id, p.position_key, p.market_id, p.strategy_id, p.model_id, p.side, p.entry_price,
  p.quantity, p.current_price, p.fees, p.status, p.unrealized_pnl, p.realized_pnl,
  p.trailing_stop_state, p.target_price, p.stop_loss_price, p.entry_time, p.exit_time,
  p.exit_price, p.exit_reason, p.calculated_probability, p.edge_at_entry,
  p.market_price_at_entry, p.row_current_ind, p.row_start_ts, p.row_end_ts, p.created_at,
  p.execution_environment,
  market.market_price AS market_price,
  (market.market_price - p.entry_price) * p.quantity AS unrealized_pnl_at_market
FROM positions p
LEFT JOIN LATERAL (
  SELECT CASE p.side WHEN 'YES' THEN m.yes_price ELSE m.no_price END AS market_price
  FROM markets m
  WHERE m.market_id = p.market_id AND m.row_current_ind
) market ON true
WHERE p.execution_environment = :execution_environment!
  AND p.row_current_ind
  AND p.status = 'open'
ORDER BY p.entry_time, p.id;

/*
  One version by its surrogate id (each SCD version has its own id; trades reference the
  version they opened or closed). Another environment's position is not found.
*/
/* @name getPositionById */
SELECT
  id, position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment
FROM positions
WHERE id = :id!
  AND execution_environment = :execution_environment!;

/* The current version of a position. */
/* @name getPositionByKey */
SELECT
  id, position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment
FROM positions
WHERE position_key = :position_key!
  AND execution_environment = :execution_environment!
  AND row_current_ind;

/* Every version of a position, oldest first. */
/* @name listPositionHistory */
SELECT
  id, position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment
FROM positions
WHERE position_key = :position_key!
  AND execution_environment = :execution_environment!
ORDER BY row_start_ts, id;
