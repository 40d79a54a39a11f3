/** Writing positions and trades through a scope, for the backtest tests. */
import { Decimal } from 'decimal.js';
import type { Scope } from '../../src/scope/precog-db.js';
import type { ExecutionEnvironment } from '../../generated/enums.js';
import type { Queryable } from '../../src/runtime/query.js';

export const d = (value: string) => new Decimal(value);

/** The environment-tagged tables, from the registry (never a hard-coded list). */
export async function taggedTables(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ table_name: string }>({ text: 'SELECT table_name FROM precog_environment_tables ORDER BY table_name' });
  return rows.map((row) => row.table_name);
}

/** Every row of every tagged table, as text per table, in a stable order: what "unchanged" compares. */
export async function snapshot(db: Queryable, filter = 'true', tables?: string[]): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const table of tables ?? (await taggedTables(db))) {
    const { rows } = await db.query<{ row: string }>({ text: `SELECT t::text AS row FROM public."${table}" t WHERE ${filter} ORDER BY t::text` });
    result[table] = rows.map((row) => row.row);
  }
  return result;
}

/**
 * Opens a position (quantity 10, entry fees 0.10) and closes it at `exit` (exit fees 0.10) at
 * `exitTime`: realized P&L = (exit - entry) × 10 - 0.20.
 */
export async function closedPosition<Env extends ExecutionEnvironment>(
  scope: Scope<Env>,
  strategyId: number | null,
  entry: string,
  exit: string,
  exitTime: Date,
) {
  const opened = await scope.openPosition({
    market_id: 'MKT-BT-COMPARE', side: 'YES', entry_price: d(entry), quantity: 10, fees: d('0.10'), strategy_id: strategyId,
    entry_time: new Date(exitTime.getTime() - 3_600_000),
  });
  const closed = await scope.closePosition({ position_key: opened.position_key, exit_price: d(exit), exit_fees: d('0.10'), exit_time: exitTime, exit_reason: 'test' });
  return closed!;
}

export async function trade<Env extends ExecutionEnvironment>(scope: Scope<Env>, strategyId: number | null, fees: string, at: Date) {
  return scope.recordTrade({
    market_id: 'MKT-BT-COMPARE', side: 'buy', price: d('0.50'), quantity: 1, fees: d(fees), trade_source: 'manual', order_type: 'limit',
    strategy_id: strategyId, execution_time: at,
  });
}

/**
 * A little of everything through one scope, so that every tagged table gets rows: a balance, an
 * order filled (a trade), a ledger entry, a position closed and one settled (settlement, ledger
 * credit, balance version).
 */
export async function tradeEverything<Env extends ExecutionEnvironment>(scope: Scope<Env>, market = 'MKT-BT-EVERYTHING') {
  await scope.syncBalance({ platform_id: 'kalshi', balance: d('1000.00') });
  const opened = await scope.openPosition({ market_id: market, side: 'YES', entry_price: d('0.42'), quantity: 10, fees: d('0.07') });
  const order = await scope.placeOrder({ platform_id: 'kalshi', market_id: market, position_id: opened.id, side: 'buy', order_type: 'limit', limit_price: d('0.42'), quantity: 10 });
  const filled = await scope.fillOrder({ order_id: order!.id, price: d('0.42'), quantity: 10, fees: d('0.07'), trade_source: 'manual' });
  await scope.recordLedgerEntry({ platform_id: 'kalshi', entry_type: 'trade', amount: d('-4.27'), order_id: order!.id, trade_id: filled!.trade_id });
  await scope.closePosition({ position_key: opened.position_key, exit_price: d('0.55'), exit_fees: d('0.07'), exit_reason: 'take_profit' });
  const held = await scope.openPosition({ market_id: market, side: 'YES', entry_price: d('0.40'), quantity: 5, fees: d('0.03') });
  await scope.settlePosition({ position_key: held.position_key, settlement_value: d('1'), platform_id: 'kalshi' });
  return { opened, held };
}
