/**
 * A short trading day on one database, through precog-db's scopes:
 * a backtest writes its trades in bulk; on paper, the account is funded, an order is placed and
 * filled (the fill is a trade), the position is marked and closed, a second position is settled
 * (settlement, ledger credit and a new balance version in one statement); a live trade is
 * recorded; and live and paper performance are compared side by side.
 *
 * Run it: `npx tsx examples/trading-day.ts` (embedded server, or DATABASE_URL).
 * The tests run it too (test/examples/trading-day.test.ts).
 */
import pg from 'pg';
import {
  Decimal,
  isNonLive,
  precogDb,
  resolveTradingConfiguration,
  type AnyEnvironment,
  type NonLive,
  type Pool,
} from 'precog-db';
import type { ComparePaperAndLivePerformanceResult, ListTrainingDataTradesResult } from 'precog-db/queries';

// Unique per run, so the example can run again on the same database.
const TICKER = `KXNFLGAME-BUF-${Date.now().toString(36).toUpperCase()}`;
const MARKET = `MKT-${TICKER}`;

export interface TradingDaySummary {
  backtestFills: number;
  paperPositionVersions: number;
  /** The paper account after the settlement, in dollars. */
  paperBalance: string;
  /** The paper ledger's running balance, entry by entry. */
  paperLedger: string[];
  performance: AnyEnvironment<ComparePaperAndLivePerformanceResult>[];
  trainingRows: number;
  nonLiveEnvironments: ('paper' | 'backtest')[];
}

export async function tradingDay(pool: Pool): Promise<TradingDaySummary> {
  const db = precogDb(pool);
  const dayStart = new Date(Date.now() - 60_000);

  // Shared data: a market has no environment ("prices are prices").
  await db.shared.createMarket({
    ticker: TICKER,
    platform_id: 'kalshi',
    title: 'Buffalo at Kansas City',
    market_type: 'binary',
    yes_price: new Decimal('0.4200'),
    no_price: new Decimal('0.5800'),
  });

  // A backtest: chosen explicitly, no API, 200 simulated fills in one set-based statement.
  const backtest = db.scope('backtest', { api: 'none' });
  const prices = Array.from({ length: 200 }, (_, i) => new Decimal('0.30').plus(new Decimal(i % 40).div(100)));
  const fills = await backtest.recordTrades({
    market_ids: prices.map(() => MARKET),
    position_ids: prices.map(() => null),
    strategy_ids: prices.map(() => null),
    model_ids: prices.map(() => null),
    order_ids: prices.map((_, i) => `BT-${i}`),
    sides: prices.map((_, i) => (i % 2 ? 'sell' : 'buy')),
    prices,
    quantities: prices.map(() => 5),
    fees: prices.map(() => new Decimal('0.01')),
    trade_sources: prices.map(() => 'manual'),
    order_types: prices.map(() => 'limit'),
    execution_times: prices.map(() => new Date()),
    calculated_probabilities: prices.map(() => null),
    market_prices: prices,
    edge_values: prices.map(() => null),
    trade_metadata: prices.map(() => ({ simulated: true })),
  });

  // Paper trading: the configuration decides (ADR-105), and the scope must match its API.
  const config = resolveTradingConfiguration({ PRECOG_ENV: 'development', KALSHI_MODE: 'demo' });
  if (config.environment !== 'paper') throw new Error('this example paper-trades');
  const paper = db.scope(config.environment, { api: config.kalshiMode });
  await paper.syncBalance({ platform_id: 'kalshi', balance: new Decimal('1000.00') });
  const opened = await paper.openPosition({
    market_id: MARKET,
    side: 'YES',
    entry_price: new Decimal('0.42'),
    quantity: 10,
    fees: new Decimal('0.07'),
  });
  const order = await paper.placeOrder({
    platform_id: 'kalshi',
    market_id: MARKET,
    position_id: opened!.id, // a paper position's id: only a paper order may reference it
    side: 'buy',
    order_type: 'limit',
    limit_price: new Decimal('0.42'),
    quantity: 10,
  });
  // The fill is a paper trade of the order, recorded with the order's new state in one statement.
  const filled = await paper.fillOrder({
    order_id: order!.id, price: new Decimal('0.42'), quantity: 10, fees: new Decimal('0.07'), trade_source: 'manual',
  });
  await paper.recordLedgerEntry({
    platform_id: 'kalshi', entry_type: 'trade', amount: new Decimal('-4.27'), order_id: order!.id, trade_id: filled!.trade_id,
  });
  for (const mark of ['0.45', '0.51', '0.48']) {
    await paper.updatePositionPrice({ position_key: opened!.position_key, current_price: new Decimal(mark) });
  }
  await paper.closePosition({
    position_key: opened!.position_key,
    exit_price: new Decimal('0.55'),
    exit_fees: new Decimal('0.07'),
    exit_reason: 'take_profit',
  });
  const versions = await paper.listPositionHistory({ position_key: opened!.position_key });

  // The market of a second paper position resolves YES: it settles, the payout is credited to
  // the ledger and the balance gets a new version, all in the paper environment.
  const held = await paper.openPosition({
    market_id: MARKET, side: 'YES', entry_price: new Decimal('0.40'), quantity: 5, fees: new Decimal('0.03'),
  });
  const settled = await paper.settlePosition({ position_key: held!.position_key, settlement_value: new Decimal('1'), platform_id: 'kalshi' });
  const ledger = await paper.getRunningBalance({ platform_id: 'kalshi' });

  // Live: real money, through the live scope only.
  const live = db.scope('live', { api: 'live' });
  await live.recordTrade({
    market_id: MARKET,
    side: 'buy',
    price: new Decimal('0.43'),
    quantity: 2,
    fees: new Decimal('0.02'),
    trade_source: 'manual',
    order_type: 'market',
  });

  // Cross-environment analysis: one row per environment, each branded with its own.
  const performance = await db.crossEnvironment.comparePaperAndLivePerformance({ from: dayStart, to: new Date() });

  // Training data: the query returns paper and backtest rows only, and its type says so.
  const training = await db.crossEnvironment.listTrainingDataTrades({ from: dayStart, to: new Date() });
  // A union of all three environments would need narrowing first: performance.filter(isNonLive).
  const nonLivePerformance = performance.filter(isNonLive);
  return {
    backtestFills: fills.length,
    paperPositionVersions: versions.length,
    paperBalance: settled!.balance_after!.toFixed(2),
    paperLedger: ledger.map((entry) => entry.running_balance.toFixed(2)),
    performance,
    trainingRows: trainModel(training),
    nonLiveEnvironments: nonLivePerformance.map((row) => row.execution_environment),
  };
}

/** Stands in for model training: it accepts paper and backtest rows, never live ones. */
function trainModel(rows: NonLive<ListTrainingDataTradesResult>[]): number {
  return rows.length;
}

function printSummary(summary: TradingDaySummary): void {
  console.log(`backtest fills written in bulk: ${summary.backtestFills}`);
  console.log(`paper position versions (open, 3 marks, close): ${summary.paperPositionVersions}`);
  console.log(`paper balance after the settlement: ${summary.paperBalance} (ledger running balance ${summary.paperLedger.join(' → ')})`);
  console.log(`training rows (paper + backtest): ${summary.trainingRows}`);
  console.log('environment  trades  notional  realized P&L');
  for (const row of summary.performance) {
    console.log(
      `${row.execution_environment.padEnd(11)}  ${String(row.trade_count).padStart(6)}  ${row.notional.toFixed(2).padStart(8)}  ${row.realized_pnl.toFixed(4).padStart(12)}`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { resolveTarget, ensureDatabase } = await import('../src/server/resolve.js');
  const { server, database } = await resolveTarget();
  await ensureDatabase(server, database);
  const pool = new pg.Pool({ host: server.host, port: server.port, user: server.user, password: server.password, database });
  try {
    printSummary(await tradingDay(pool));
  } finally {
    await pool.end();
  }
}
