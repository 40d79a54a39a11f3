/**
 * A short trading day on one database, through precog-db's scopes:
 * one strategy is backtested twice with different parameters (one run bulk-loaded with
 * db.backtests.load, the other written through a run's scope); on paper, the account is funded,
 * an order is placed and filled (the fill is a trade), the position is marked and closed, a
 * second position is settled (settlement, ledger credit and a new balance version in one
 * statement); a live trade is recorded; the two runs are compared side by side, one run against
 * paper trading of the strategy, and live and paper performance side by side.
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
  rowOf,
  type AnyEnvironment,
  type Backtest,
  type LoadRow,
  type NonLive,
  type Pool,
} from 'precog-db';
import type {
  CompareBacktestRunsResult,
  CompareBacktestRunWithPaperResult,
  ComparePaperAndLivePerformanceResult,
  ListTrainingDataTradesResult,
} from 'precog-db/queries';

// Unique per run, so the example can run again on the same database.
const TICKER = `KXNFLGAME-BUF-${Date.now().toString(36).toUpperCase()}`;
const MARKET = `MKT-${TICKER}`;

export interface TradingDaySummary {
  /** Fills written by the two backtest runs (a buy and a sell per simulated position). */
  backtestFills: number;
  /** The strategy's two runs side by side, newest first. */
  backtestRuns: readonly Backtest<CompareBacktestRunsResult>[];
  /** The strict run (min edge 0.10) beside paper trading of the strategy over the run's period. */
  runVersusPaper: readonly NonLive<CompareBacktestRunWithPaperResult>[];
  paperPositionVersions: number;
  /** The paper account after the settlement, in dollars. */
  paperBalance: string;
  /** The paper ledger's running balance, entry by entry. */
  paperLedger: string[];
  performance: readonly AnyEnvironment<ComparePaperAndLivePerformanceResult>[];
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

  // The strategy version everything below is attributed to (shared: strategies have no environment).
  const strategy = await db.shared.createStrategy({ strategy_name: `edge-threshold-${TICKER}`, strategy_version: '1.0', config: { market: MARKET } });
  // Every run covers the day (from a minute ago to an hour from now); paper trading of the same
  // strategy version in that period is what a run is compared with.
  const period = { period_start: dayStart, period_end: new Date(dayStart.getTime() + 3_600_000) };

  // Two backtests of the strategy, differing in one parameter: the minimum edge to trade.
  const loose = await db.backtests.create({ strategy_id: strategy.strategy_id, ...period, parameters: { min_edge: '0.05' }, label: 'min edge 0.05' });
  const strict = await db.backtests.create({ strategy_id: strategy.strategy_id, ...period, parameters: { min_edge: '0.10' }, label: 'min edge 0.10' });
  const simulated = (minEdge: string) => OPPORTUNITIES.filter((o) => new Decimal(o.edge).gte(minEdge));

  // The loose run is bulk-loaded: its positions and, referring to them with rowOf, their fills,
  // in one all-or-nothing load (COPY, then every rule checked set-wise).
  const looseTrades = simulated('0.05');
  const keys = await db.backtests.positionKeys(looseTrades.length);
  const positions = looseTrades.map((o, i): LoadRow<'positions'> => ({
    position_key: keys[i]!, market_id: MARKET, strategy_id: strategy.strategy_id, side: 'YES', quantity: QUANTITY,
    entry_price: new Decimal(o.entry), current_price: new Decimal(o.exit), exit_price: new Decimal(o.exit),
    fees: FEE.times(2), status: 'closed', realized_pnl: realizedPnl(o), exit_reason: 'simulated exit',
    entry_time: simulatedTime(dayStart, o.at), exit_time: simulatedTime(dayStart, o.at + 1), row_start_ts: simulatedTime(dayStart, o.at + 1),
  }));
  const fills = looseTrades.flatMap((o, i): LoadRow<'trades'>[] => [
    { market_id: MARKET, position_id: rowOf('positions', i), strategy_id: strategy.strategy_id, side: 'buy', price: new Decimal(o.entry), quantity: QUANTITY, fees: FEE, trade_source: 'manual', order_type: 'limit', execution_time: simulatedTime(dayStart, o.at), edge_value: new Decimal(o.edge) },
    { market_id: MARKET, position_id: rowOf('positions', i), strategy_id: strategy.strategy_id, side: 'sell', price: new Decimal(o.exit), quantity: QUANTITY, fees: FEE, trade_source: 'manual', order_type: 'limit', execution_time: simulatedTime(dayStart, o.at + 1), edge_value: null },
  ]);
  const loaded = await db.backtests.load(loose, { positions, trades: fills });
  await db.backtests.setStatus(loose, 'finished');

  // The strict run writes through a scope opened for it: the database files every row under it.
  const backtest = db.scope('backtest', { api: 'none', run: strict });
  let strictFills = 0;
  for (const o of simulated('0.10')) {
    const position = await backtest.openPosition({
      market_id: MARKET, strategy_id: strategy.strategy_id, side: 'YES', entry_price: new Decimal(o.entry), quantity: QUANTITY, fees: FEE,
      entry_time: simulatedTime(dayStart, o.at), edge_at_entry: new Decimal(o.edge),
    });
    await backtest.closePosition({ position_key: position.position_key, exit_price: new Decimal(o.exit), exit_fees: FEE, exit_time: simulatedTime(dayStart, o.at + 1), exit_reason: 'simulated exit' });
    const written = await backtest.recordTrades({
      market_ids: [MARKET, MARKET], position_ids: [position.id, position.id], strategy_ids: [strategy.strategy_id, strategy.strategy_id],
      model_ids: [null, null], order_ids: [null, null], sides: ['buy', 'sell'], prices: [new Decimal(o.entry), new Decimal(o.exit)],
      quantities: [QUANTITY, QUANTITY], fees: [FEE, FEE], trade_sources: ['manual', 'manual'], order_types: ['limit', 'limit'],
      execution_times: [simulatedTime(dayStart, o.at), simulatedTime(dayStart, o.at + 1)], calculated_probabilities: [null, null],
      market_prices: [new Decimal(o.entry), new Decimal(o.exit)], edge_values: [new Decimal(o.edge), null], trade_metadata: [{ simulated: true }, { simulated: true }],
    });
    strictFills += written.length;
  }
  await db.backtests.setStatus(strict, 'finished');

  // Paper trading: the configuration decides (ADR-105), and the scope must match its API.
  const config = resolveTradingConfiguration({ PRECOG_ENV: 'development', KALSHI_MODE: 'demo' });
  if (config.environment !== 'paper') throw new Error('this example paper-trades');
  const paper = db.scope(config.environment, { api: config.kalshiMode });
  await paper.syncBalance({ platform_id: 'kalshi', balance: new Decimal('1000.00') });
  const opened = await paper.openPosition({
    market_id: MARKET,
    strategy_id: strategy.strategy_id,
    side: 'YES',
    entry_price: new Decimal('0.42'),
    quantity: 10,
    fees: new Decimal('0.07'),
  });
  const order = await paper.placeOrder({
    platform_id: 'kalshi',
    market_id: MARKET,
    position_id: opened!.id, // a paper position's id: only a paper order may reference it
    strategy_id: strategy.strategy_id,
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
    market_id: MARKET, strategy_id: strategy.strategy_id, side: 'YES', entry_price: new Decimal('0.40'), quantity: 5, fees: new Decimal('0.03'),
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

  // The two runs side by side, and the strict one against paper trading of the same strategy
  // version over its period: each row names its environment and its run.
  const backtestRuns = await db.crossEnvironment.compareBacktestRuns({ strategy_id: strategy.strategy_id });
  const runVersusPaper = await db.crossEnvironment.compareBacktestRunWithPaper({ run_id: strict.id });

  // Cross-environment analysis: one row per environment, each branded with its own.
  const performance = await db.crossEnvironment.comparePaperAndLivePerformance({ from: dayStart, to: new Date() });

  // Training data: the query returns paper and backtest rows only, and its type says so.
  const training = await db.crossEnvironment.listTrainingDataTrades({ from: dayStart, to: new Date() });
  // A union of all three environments would need narrowing first: performance.filter(isNonLive).
  const nonLivePerformance = performance.filter(isNonLive);
  return {
    backtestFills: loaded.tables.find((table) => table.table === 'trades')!.rows + strictFills,
    backtestRuns,
    runVersusPaper,
    paperPositionVersions: versions.length,
    paperBalance: settled!.balance_after!.toFixed(2),
    paperLedger: ledger.map((entry) => entry.running_balance.toFixed(2)),
    performance,
    trainingRows: trainModel(training),
    nonLiveEnvironments: nonLivePerformance.map((row) => row.execution_environment),
  };
}

/** The simulated trading opportunities of the backtests: seconds after the start, edge, entry and exit prices. */
const OPPORTUNITIES = [
  { at: 1, edge: '0.06', entry: '0.40', exit: '0.52' },
  { at: 3, edge: '0.12', entry: '0.35', exit: '0.50' },
  { at: 5, edge: '0.07', entry: '0.45', exit: '0.38' },
  { at: 7, edge: '0.15', entry: '0.30', exit: '0.26' },
  { at: 9, edge: '0.05', entry: '0.50', exit: '0.41' },
  { at: 11, edge: '0.11', entry: '0.42', exit: '0.60' },
];
const QUANTITY = 10;
/** Fees of each fill, entry and exit. */
const FEE = new Decimal('0.07');

/** (exit - entry) × quantity - both fills' fees: how positions.sql's closePosition computes it. */
function realizedPnl(o: (typeof OPPORTUNITIES)[number]): Decimal {
  return new Decimal(o.exit).minus(o.entry).times(QUANTITY).minus(FEE.times(2));
}

function simulatedTime(start: Date, seconds: number): Date {
  return new Date(start.getTime() + seconds * 1000);
}

/** Stands in for model training: it accepts paper and backtest rows, never live ones. */
function trainModel(rows: readonly NonLive<ListTrainingDataTradesResult>[]): number {
  return rows.length;
}

function printSummary(summary: TradingDaySummary): void {
  console.log(`backtest fills of the two runs (one bulk-loaded, one through its scope): ${summary.backtestFills}`);
  console.log(`paper position versions (open, 3 marks, close): ${summary.paperPositionVersions}`);
  console.log(`paper balance after the settlement: ${summary.paperBalance} (ledger running balance ${summary.paperLedger.join(' → ')})`);
  console.log(`training rows (paper + backtest): ${summary.trainingRows}`);
  console.log('backtest run  label          trades  fees    closed  win rate  P&L      max drawdown');
  for (const run of summary.backtestRuns) {
    console.log(
      `${String(run.backtest_run_id).padEnd(12)}  ${(run.label ?? '').padEnd(13)}  ${String(run.trade_count).padStart(6)}  ${run.fees.toFixed(2).padStart(5)}  ${String(run.positions_closed).padStart(6)}  ${(run.win_rate?.toFixed(4) ?? '-').padStart(8)}  ${run.realized_pnl.toFixed(2).padStart(7)}  ${run.max_drawdown.toFixed(2).padStart(12)}`,
    );
  }
  console.log('run against paper  trades  closed  win rate  P&L      max drawdown');
  for (const side of summary.runVersusPaper) {
    const name = side.execution_environment === 'backtest' ? `backtest run ${side.backtest_run_id}` : `paper`;
    console.log(
      `${name.padEnd(17)}  ${String(side.trade_count).padStart(6)}  ${String(side.positions_closed).padStart(6)}  ${(side.win_rate?.toFixed(4) ?? '-').padStart(8)}  ${side.realized_pnl.toFixed(2).padStart(7)}  ${side.max_drawdown.toFixed(2).padStart(12)}`,
    );
  }
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
