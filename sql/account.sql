/*
  The account: its balance per platform (account_balance, SCD Type 2, one current version per
  platform and environment) and its ledger (account_ledger, append-only, signed amounts). Live
  money, demo money and simulated money never meet: every query takes :execution_environment!
  and returns execution_environment (Precog #691 read balances and the ledger mode-blind).
*/

/*
  Records the balance observed on the platform (a sync from Kalshi's API, or a backtest's
  starting capital): closes the current version, if any, and inserts the new one.
*/
/* @name syncBalance */
-- scd-write: a concurrent writer of the same balance makes this fail under REPEATABLE READ; precog-db retries it
WITH current_version AS (
  SELECT id, execution_environment, greatest(statement_timestamp(), row_start_ts) AS changed_at
  FROM account_balance
  WHERE platform_id = :platform_id!
    AND execution_environment = :execution_environment!
    AND row_current_ind
  FOR UPDATE
),
closed AS (
  UPDATE account_balance b
  SET row_current_ind = false, row_end_ts = current_version.changed_at
  FROM current_version
  WHERE b.id = current_version.id
    AND b.execution_environment = current_version.execution_environment
  RETURNING current_version.changed_at
)
INSERT INTO account_balance (platform_id, balance, row_start_ts, execution_environment)
VALUES (:platform_id!, :balance!, coalesce((SELECT changed_at FROM closed), statement_timestamp()), :execution_environment!)
RETURNING id, platform_id, balance, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment;

/* The current balance of one platform's account. */
/* @name getCurrentBalance */
SELECT id, platform_id, balance, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment
FROM account_balance
WHERE platform_id = :platform_id!
  AND execution_environment = :execution_environment!
  AND row_current_ind;

/* Records one movement of money (signed: credits positive, debits negative). */
/* @name recordLedgerEntry */
INSERT INTO account_ledger (
  platform_id, entry_type, amount, order_id, trade_id, settlement_id, description, recorded_at, execution_environment
)
VALUES (
  :platform_id!, :entry_type!, :amount!, :order_id, :trade_id, :settlement_id, :description,
  coalesce(:recorded_at::timestamptz, statement_timestamp()), :execution_environment!
)
RETURNING id, platform_id, entry_type, amount, order_id, trade_id, settlement_id, description, recorded_at, execution_environment;

/* The ledger of one account for a period (recorded_at in [from, to)), in order. */
/* @name listLedgerEntries */
SELECT id, platform_id, entry_type, amount, order_id, trade_id, settlement_id, description, recorded_at, execution_environment
FROM account_ledger
WHERE platform_id = :platform_id!
  AND execution_environment = :execution_environment!
  AND recorded_at >= :from!::timestamptz
  AND recorded_at < :to!::timestamptz
ORDER BY recorded_at, id;

/* Every entry of one account with the running sum of the amounts up to it, in order. */
/* @name getRunningBalance */
SELECT
  id, entry_type, amount, recorded_at,
  sum(amount) OVER (ORDER BY recorded_at, id ROWS UNBOUNDED PRECEDING) AS running_balance,
  execution_environment
FROM account_ledger
WHERE platform_id = :platform_id!
  AND execution_environment = :execution_environment!
ORDER BY recorded_at, id;
