/*
  Settlements: a market resolved, and a position's contracts paid out. Append-only facts tagged
  with the execution environment; a position settles once (settlements_position_key_key).
  Every query takes :execution_environment! and returns execution_environment.
*/

/*
  Settles an open position, in one statement and one environment: the position gets a new SCD
  version (status settled, exit price = what each held contract paid, realized P&L), the
  settlement is recorded, the payout is credited to the account's ledger, and the account's
  balance gets a new version (when the account has one: sync it first with syncBalance).
  settlement_value is what a YES contract paid (1 or 0; a NO contract pays 1 - it).
  Returns no row when the position is not open in this environment.
*/
/* @name settlePosition */
-- @returns maybe
-- scd-write: a concurrent writer of the position or the balance makes this fail under REPEATABLE READ; precog-db retries it
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
    p.fees, p.trailing_stop_state, p.target_price, p.stop_loss_price, p.entry_time,
    p.calculated_probability, p.edge_at_entry, p.market_price_at_entry, p.created_at,
    p.execution_environment, current_version.changed_at,
    CASE p.side WHEN 'YES' THEN :settlement_value!::numeric ELSE 1 - :settlement_value!::numeric END AS paid_per_contract
),
settled AS (
  INSERT INTO positions (
    position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
    fees, status, unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
    entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
    market_price_at_entry, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment
  )
  SELECT
    position_key, market_id, strategy_id, model_id, side, entry_price, quantity, paid_per_contract,
    fees, 'settled', 0, (paid_per_contract - entry_price) * quantity - fees, trailing_stop_state,
    target_price, stop_loss_price, entry_time, changed_at, paid_per_contract, 'settlement',
    calculated_probability, edge_at_entry, market_price_at_entry, true, changed_at, NULL, created_at,
    execution_environment
  FROM closed
  RETURNING id, position_key, market_id, side, quantity, fees, realized_pnl, exit_price, row_start_ts, execution_environment
),
settlement AS (
  INSERT INTO settlements (
    position_id, position_key, market_id, side, quantity, settlement_value, payout, fees, realized_pnl,
    settled_at, execution_environment
  )
  SELECT
    id, position_key, market_id, side, quantity, :settlement_value!, exit_price * quantity, fees, realized_pnl,
    row_start_ts, execution_environment
  FROM settled
  RETURNING id, position_id, position_key, market_id, side, quantity, settlement_value, payout, fees, realized_pnl, settled_at, execution_environment
),
credit AS (
  INSERT INTO account_ledger (platform_id, entry_type, amount, settlement_id, description, recorded_at, execution_environment)
  SELECT :platform_id!, 'settlement', payout, id, 'settlement of ' || position_key, settled_at, execution_environment
  FROM settlement
  WHERE payout > 0
  RETURNING amount, execution_environment
),
balance_version AS (
  SELECT id, execution_environment, greatest(statement_timestamp(), row_start_ts) AS changed_at
  FROM account_balance
  WHERE platform_id = :platform_id!
    AND execution_environment = :execution_environment!
    AND row_current_ind
    AND EXISTS (SELECT FROM settlement)
  FOR UPDATE
),
balance_closed AS (
  UPDATE account_balance b
  SET row_current_ind = false, row_end_ts = balance_version.changed_at
  FROM balance_version
  WHERE b.id = balance_version.id
    AND b.execution_environment = balance_version.execution_environment
  RETURNING b.platform_id, b.balance, b.execution_environment, balance_version.changed_at
),
new_balance AS (
  INSERT INTO account_balance (platform_id, balance, row_start_ts, execution_environment)
  SELECT platform_id, balance + coalesce((SELECT sum(amount) FROM credit), 0), changed_at, execution_environment
  FROM balance_closed
  RETURNING balance
)
SELECT
  settlement.id, settlement.position_id, settlement.position_key,
  settlement.market_id, settlement.side, settlement.quantity,
  settlement.settlement_value, settlement.payout, settlement.fees,
  settlement.realized_pnl, settlement.settled_at,
  (SELECT balance FROM new_balance) AS balance_after,
  settlement.execution_environment
FROM settlement;

/* Settlements of a period (settled_at in [from, to)), oldest first. */
/* @name listSettlements */
SELECT
  id, position_id, position_key, market_id, side, quantity, settlement_value, payout, fees, realized_pnl,
  settled_at, execution_environment
FROM settlements
WHERE execution_environment = :execution_environment!
  AND settled_at >= :from!::timestamptz
  AND settled_at < :to!::timestamptz
ORDER BY settled_at, id;
