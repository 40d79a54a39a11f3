/** Rows of every environment, and a way to attempt SQL as the owner or as one of the environment roles. */
import type pg from 'pg';
import { backtestRun, type TestRun } from './backtest-run.js';

export const ENVIRONMENTS = ['live', 'paper', 'backtest'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** 'owner' is the migration role (the test server's superuser); the others are the roles of migration 000004. */
export const ACTORS = ['owner', 'precog_live', 'precog_paper', 'precog_backtest', 'precog_analyst'] as const;
export type Actor = (typeof ACTORS)[number];

export interface SeededPosition {
  key: string;
  /** The superseded first version (row_current_ind = false). */
  oldId: number;
  /** The current second version. */
  currentId: number;
  /** A trade referencing the current version. */
  tradeId: number;
  /** The backtest run of the backtest rows (backtest_runs.id); none for live and paper. */
  run?: string;
}

export type Seed = Record<Environment, SeededPosition>;

/**
 * For each environment, as the owner: a position with two versions (the first closed), and a
 * trade on the current one. Keys come from position_key_seq, so concurrent tests never collide.
 * The backtest rows belong to `run` (a new run when none is given).
 */
export async function seedEveryEnvironment(client: pg.ClientBase, market = 'MKT-RULES', run?: TestRun): Promise<Seed> {
  const seed = {} as Seed;
  const backtest = run ?? (await backtestRun(client, { label: `seeds of ${market}` }));
  for (const environment of ENVIRONMENTS) {
    const { rows: [first] } = await client.query<{ id: number; position_key: string }>(
      `INSERT INTO positions (position_key, market_id, side, entry_price, quantity, current_price, status, execution_environment, backtest_run_id)
       VALUES ('POS-' || nextval('position_key_seq'), $1, 'YES', 0.4, 10, 0.4, 'open', $2, CASE WHEN $2::execution_environment = 'backtest' THEN $3::bigint END)
       RETURNING id, position_key`,
      [market, environment, backtest.id],
    );
    const { rows: [current] } = await client.query<{ id: number }>(SCD_PRICE_UPDATE, [first!.position_key, '0.0100']);
    const { rows: [trade] } = await client.query<{ id: number }>(
      `INSERT INTO trades (market_id, position_id, side, price, quantity, fees, trade_source, order_type, execution_environment, backtest_run_id)
       VALUES ($1, $2, 'buy', 0.4, 10, 0.07, 'manual', 'limit', $3, CASE WHEN $3::execution_environment = 'backtest' THEN $4::bigint END) RETURNING id`,
      [market, current!.id, environment, backtest.id],
    );
    seed[environment] = {
      key: first!.position_key,
      oldId: first!.id,
      currentId: current!.id,
      tradeId: trade!.id,
      ...(environment === 'backtest' && { run: String(backtest.id) }),
    };
  }
  return seed;
}

export interface Attempt {
  error?: pg.DatabaseError;
  rowCount: number;
  rows: Record<string, unknown>[];
}

/**
 * Runs `sql` as `actor` inside a savepoint of the caller's open transaction and rolls it back,
 * so every attempt starts from the same rows whatever the previous one did. precog_backtest runs
 * in `run` (as a backtest scope's transaction does: `precog.backtest_run`), or in none.
 */
export async function attempt(client: pg.ClientBase, actor: Actor | 'precog_ingest', sql: string, params: unknown[] = [], run?: string): Promise<Attempt> {
  await client.query('SAVEPOINT attempt');
  try {
    if (actor !== 'owner') await client.query(`SET LOCAL ROLE ${actor}`);
    if (actor === 'precog_backtest' && run !== undefined) await client.query(`SELECT public.precog_enter_backtest_run($1::bigint)`, [run]);
    const result = await client.query(sql, params);
    return { rowCount: result.rowCount ?? 0, rows: result.rows };
  } catch (error) {
    return { error: error as pg.DatabaseError, rowCount: 0, rows: [] };
  } finally {
    await client.query('ROLLBACK TO SAVEPOINT attempt');
  }
}

/**
 * The SCD Type 2 price update as one statement: lock the current version, close it, insert the
 * next version copying every column forward (execution_environment and backtest_run_id included) with
 * current_price raised by $2, and return the new version. The new version starts exactly when
 * the old one ends (clock_timestamp() after the lock, not now(): a transaction that started
 * earlier but got the lock later would otherwise end a version before it began).
 *
 * Under READ COMMITTED a caller that waited for the lock while another writer replaced the
 * version gets 0 rows (the locked row is no longer current, and the new one is not in its
 * snapshot): the caller must retry. Under REPEATABLE READ it gets 40001 instead.
 */
export const SCD_PRICE_UPDATE = `
WITH current_version AS (
  SELECT id FROM positions WHERE position_key = $1 AND row_current_ind FOR UPDATE
), closed AS (
  UPDATE positions p SET row_current_ind = false, row_end_ts = clock_timestamp()
  FROM current_version c WHERE p.id = c.id
  RETURNING p.*
)
INSERT INTO positions (
  position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price, fees, status,
  unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price, entry_time, exit_time,
  exit_price, exit_reason, calculated_probability, edge_at_entry, market_price_at_entry, row_start_ts,
  execution_environment, backtest_run_id
)
SELECT
  position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price + $2::numeric, fees, status,
  (current_price + $2::numeric - entry_price) * quantity, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry, market_price_at_entry, row_end_ts,
  execution_environment, backtest_run_id
FROM closed
RETURNING id, position_key, quantity, current_price, fees, execution_environment`;

/**
 * A fill as one statement: the SCD close + insert of SCD_PRICE_UPDATE with quantity += $2 and
 * fees += $4, plus the trade ($2 contracts at $3, order id $5) referencing the new version,
 * in the new version's environment. Returns the trade, or 0 rows when the race was lost.
 */
export const SCD_FILL = `
WITH current_version AS (
  SELECT id FROM positions WHERE position_key = $1 AND row_current_ind FOR UPDATE
), closed AS (
  UPDATE positions p SET row_current_ind = false, row_end_ts = clock_timestamp()
  FROM current_version c WHERE p.id = c.id
  RETURNING p.*
), opened AS (
  INSERT INTO positions (
    position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price, fees, status,
    unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price, entry_time, exit_time,
    exit_price, exit_reason, calculated_probability, edge_at_entry, market_price_at_entry, row_start_ts,
    execution_environment, backtest_run_id
  )
  SELECT
    position_key, market_id, strategy_id, model_id, side, entry_price, quantity + $2::integer, current_price,
    fees + $4::numeric, status, (current_price - entry_price) * (quantity + $2::integer), realized_pnl,
    trailing_stop_state, target_price, stop_loss_price, entry_time, exit_time, exit_price, exit_reason,
    calculated_probability, edge_at_entry, market_price_at_entry, row_end_ts, execution_environment, backtest_run_id
  FROM closed
  RETURNING id, market_id, execution_environment, backtest_run_id
)
INSERT INTO trades (market_id, position_id, side, price, quantity, fees, trade_source, order_type, order_id, execution_environment, backtest_run_id)
SELECT market_id, id, 'buy', $3::numeric, $2::integer, $4::numeric, 'manual', 'limit', $5, execution_environment, backtest_run_id FROM opened
RETURNING id, position_id`;
