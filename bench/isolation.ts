/**
 * 3. Live trading does not feel the backtests, and 4. purging backtests.
 *
 * Databases (all scratch, identical live and paper data):
 *   cur_0   this schema, 0 backtest trades          adr_0   ADR-107's indexes alone, 0 backtest trades
 *   cur_n   this schema, N backtest trades           adr_n   ADR-107's indexes alone, N backtest trades
 * "ADR-107's indexes alone": the composite/partial indexes that migration 000002 adds beyond the
 * ADR (idx_trades_environment_execution_time, idx_positions_current_environment_status) are
 * dropped, so the environment filter has only idx_trades_environment / idx_positions_environment
 * (plus the pre-ADR indexes of 000001, which ADR-107's schema had too).
 *
 * Backtest rows belong to runs (migration 000013): cur_n has RUNS (1,000) runs made with
 * create_backtest_run(), each with a partition in every tagged table, and the N trades (and N/10
 * position keys) spread evenly over them, loaded as the owner with INSERT ... SELECT
 * generate_series naming each row's run (backtest_run_id), a statement per batch of runs.
 *
 * For each design and query, the live scope's generated function runs alternately against the
 * database at N and the one at 0 (ABAB...): the figure is latency(N) / latency(0). This schema's
 * side also times recordTrade (a live trade written) the same way, after the reads. The goal of
 * issue 14, live_latency_ratio_1000_runs, is this schema's three ratios at the largest N.
 *
 * Purge (4): purge_backtest_data() on cur_n at 1 million backtest trades, timed, with the live
 * and paper rows fingerprinted (count + md5 of every row) before and after.
 */
import { processSQLQueryIR } from '@pgtyped/runtime';
import type pg from 'pg';
import { listOpenPositions } from '../generated/positions.js';
import { Decimal } from 'decimal.js';
import { listRecentTrades } from '../generated/trades.js';
import { precogDb } from '../src/index.js';
import type { ServerTarget } from '../src/server/connection-string.js';
import { goal } from './report.js';
import { alternate, log, now, pool, summarise, type Flags, type ScratchDatabases } from './support.js';

/** Issue 14: live latency with 1,000 runs of backtests ≤ this × latency with none, for each query. */
export const LIVE_LATENCY_THRESHOLD = 1.1;
/** How many backtest runs the N backtest trades are spread over (the quick run: a few). */
const RUNS = 1_000;
const QUICK_RUNS = 10;
/** Runs per INSERT ... SELECT statement of the load. */
const RUNS_PER_STATEMENT = 50;

const LIVE_TRADES = 10_000;
const PAPER_TRADES = 10_000;
const LIVE_POSITION_KEYS = 1_000; // 3 versions each, every 5th open: 200 open live positions
const PAPER_POSITION_KEYS = 1_000;
const BACKTEST_TRADES_PER_POSITION = 10; // N trades → N/10 position keys, 2 versions each, 5% left open
const MARKETS = 500;
const EXTRA_INDEXES = ['idx_trades_environment_execution_time', 'idx_positions_current_environment_status'];

/** Deterministic spread over the last year (seconds); g * 7919 mod 365 days. */
const spread = (g: string) => `((${g}::bigint * 7919) % 31536000) * interval '1 second'`;

/**
 * Position keys k of `environment`, `versions` SCD versions each. With `runs` (backtest): the keys of
 * each run (the i-th run gets keys firstKey + i * keys + k) in that run (backtest_run_id).
 */
export function positionsSql(environment: string, firstKey: number, keys: number, versions: number, openEvery: number, runs?: string[]): string {
  const perRun = runs ? `unnest('{${runs.join(',')}}'::bigint[]) WITH ORDINALITY r(run, ri)` : `(SELECT NULL::bigint AS run, 1 AS ri) r`;
  return `
    INSERT INTO positions (position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
                           fees, status, unrealized_pnl, realized_pnl, entry_time, exit_time, exit_price, exit_reason,
                           row_current_ind, row_start_ts, row_end_ts, execution_environment, backtest_run_id)
    SELECT 'POS-' || (${firstKey} + (r.ri - 1) * ${keys} + k), 'MKT-BENCH-' || (k % ${MARKETS}), 1, 1,
           CASE WHEN k % 2 = 0 THEN 'YES' ELSE 'NO' END::position_side, 0.40, 10, 0.40 + v / 100.0, 0.02,
           CASE WHEN v = ${versions} AND k % ${openEvery} <> 0 THEN 'closed' ELSE 'open' END::position_status,
           0, NULL, t0,
           CASE WHEN v = ${versions} AND k % ${openEvery} <> 0 THEN t0 + interval '1 day' END,
           CASE WHEN v = ${versions} AND k % ${openEvery} <> 0 THEN 0.55 END,
           CASE WHEN v = ${versions} AND k % ${openEvery} <> 0 THEN 'take_profit' END,
           v = ${versions}, t0 + (v - 1) * interval '1 hour',
           CASE WHEN v < ${versions} THEN t0 + v * interval '1 hour' END,
           '${environment}', r.run
    FROM ${perRun}
    CROSS JOIN generate_series(1, ${keys}) k
    CROSS JOIN generate_series(1, ${versions}) v
    CROSS JOIN LATERAL (SELECT now() - interval '2 days' - ${spread('k')} AS t0) t
    ORDER BY r.ri, k, v`;
}

/**
 * Trades g in [from, to] of `environment`, each referencing a position version of the same
 * environment; with `runs` (backtest), trades g in [from, to] of each run, referencing that run's
 * position versions (a run's ids are contiguous: each run's positions are inserted in order).
 */
export function tradesSql(environment: string, from: number, to: number, runs?: string[]): string {
  const run = runs ? `backtest_run_id = ANY ('{${runs.join(',')}}'::bigint[])` : 'backtest_run_id IS NULL';
  return `
    WITH p AS (SELECT backtest_run_id AS run, min(id) AS first, count(*) AS n FROM positions
                WHERE execution_environment = '${environment}' AND ${run} GROUP BY backtest_run_id)
    INSERT INTO trades (market_id, position_id, strategy_id, model_id, order_id, side, price, quantity, fees, trade_source,
                        order_type, execution_time, calculated_probability, market_price, edge_value, trade_metadata,
                        execution_environment, backtest_run_id)
    SELECT 'MKT-BENCH-' || (g % ${MARKETS}), p.first + (g % p.n), 1, 1, 'ORD-' || g,
           CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END::trade_side, 0.30 + (g % 40) / 100.0, 1 + g % 20, 0.01,
           'automated', 'limit', now() - ${spread('g')}, 0.35 + (g % 40) / 100.0, 0.30 + (g % 40) / 100.0, 0.05,
           jsonb_build_object('step', g), '${environment}', p.run
    FROM p, generate_series(${from}::bigint, ${to}::bigint) g
    ORDER BY p.run, g`;
}

export async function seedLiveAndPaper(client: pg.Pool): Promise<void> {
  await client.query(`INSERT INTO strategies (strategy_id, strategy_name, strategy_version, status) VALUES (1, 'bench', '1', 'active')`);
  await client.query(`INSERT INTO probability_models (model_id, model_name, model_version, status) VALUES (1, 'bench', '1', 'active')`);
  await client.query(`
    INSERT INTO markets (market_id, platform_id, ticker, title, market_type, yes_price, no_price)
    SELECT 'MKT-BENCH-' || g, 'kalshi', 'BENCH-' || g, 'Bench market ' || g, 'binary', 0.30 + (g % 40) / 100.0, 0.70 - (g % 40) / 100.0
    FROM generate_series(0, ${MARKETS - 1}) g`);
  await client.query(positionsSql('live', 0, LIVE_POSITION_KEYS, 3, 5));
  await client.query(positionsSql('paper', LIVE_POSITION_KEYS, PAPER_POSITION_KEYS, 3, 5));
  await client.query(tradesSql('live', 1, LIVE_TRADES));
  await client.query(tradesSql('paper', 1, PAPER_TRADES));
  // position_key_seq must mint keys beyond the ones used here (the generated openPosition uses it).
  await client.query(`SELECT setval('position_key_seq', 100000000)`);
  await client.query('VACUUM (ANALYZE)');
}

/**
 * Makes `runs` backtest runs (create_backtest_run, one transaction each: a run's partitions are DDL)
 * and loads `count` backtest trades (and count/10 backtest position keys, 2 versions each) spread
 * evenly over them, as the table owner.
 */
async function loadBacktests(client: pg.Pool, count: number, runs: number) {
  const runsStarted = now();
  const ids: string[] = [];
  for (let i = 0; i < runs; i++) {
    const { rows } = await client.query<{ id: string }>(
      `SELECT id::text FROM create_backtest_run(1, now() - interval '1 year', now(), 1, $1, $2)`,
      [JSON.stringify({ bench: 'isolation', i }), `bench isolation ${i + 1}`],
    );
    ids.push(rows[0]!.id);
    if ((i + 1) % 250 === 0) log(`isolation: ${i + 1} / ${runs} runs made (${((now() - runsStarted) / 1000).toFixed(1)} s)`);
  }
  const runsMs = now() - runsStarted;
  const started = now();
  const perRun = Math.floor(count / runs);
  const keys = Math.max(1, Math.floor(perRun / BACKTEST_TRADES_PER_POSITION));
  for (let i = 0; i < runs; i += RUNS_PER_STATEMENT) {
    await client.query(positionsSql('backtest', 1_000_000 + i * keys, keys, 2, 20, ids.slice(i, i + RUNS_PER_STATEMENT)));
  }
  // Statistics of the new run partitions before the trades: without them the run-by-run reference
  // check of trades (a semi join of the transition table against the run's positions, estimated at
  // one row) is planned as a nested loop over the transition table, quadratic in a run's size.
  await client.query('ANALYZE positions');
  const positionsMs = now() - started;
  for (let i = 0; i < runs; i += RUNS_PER_STATEMENT) {
    await client.query(tradesSql('backtest', 1, perRun, ids.slice(i, i + RUNS_PER_STATEMENT)));
    const done = Math.min(runs, i + RUNS_PER_STATEMENT) * perRun;
    if (Math.min(runs, i + RUNS_PER_STATEMENT) % 250 === 0 || i + RUNS_PER_STATEMENT >= runs) {
      log(`isolation: loaded ${done.toLocaleString('en-US')} / ${(perRun * runs).toLocaleString('en-US')} backtest trades (${((now() - started) / 1000).toFixed(1)} s)`);
    }
  }
  const insertMs = now() - started;
  const vacuumStarted = now();
  await client.query('VACUUM (ANALYZE) trades');
  await client.query('VACUUM (ANALYZE) positions');
  const vacuumMs = now() - vacuumStarted;
  const size = (await client.query<{ trades: string; positions: string }>(
    // Partitioned tables hold no data themselves: sum their partitions.
    `SELECT (SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree('trades')) AS trades,
            (SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree('positions')) AS positions`,
  )).rows[0]!;
  return {
    runs,
    trades: perRun * runs,
    tradesPerRun: perRun,
    positionVersions: keys * 2 * runs,
    createRuns_s: round(runsMs / 1000),
    positionsLoad_s: round(positionsMs / 1000),
    insert_s: round(insertMs / 1000),
    insertRowsPerSecond: Math.round((perRun * runs) / (insertMs / 1000)),
    vacuumAnalyze_s: round(vacuumMs / 1000),
    tableSize: size,
  };
}

async function dropExtraIndexes(server: ServerTarget, database: string): Promise<void> {
  const client = pool(server, database);
  try {
    for (const index of EXTRA_INDEXES) await client.query(`DROP INDEX ${index}`);
    await client.query('ANALYZE trades');
    await client.query('ANALYZE positions');
  } finally {
    await client.end();
  }
}

type IR = Parameters<typeof processSQLQueryIR>[0];

/** The plan's node types and indexes, outermost first ("Limit > Index Scan idx_..."). */
async function planSummary(client: pg.Pool, query: { ir: unknown }, params: Record<string, unknown>): Promise<string> {
  const { query: text, bindings } = processSQLQueryIR(query.ir as IR, params as never);
  const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${text}`, bindings);
  const nodes: string[] = [];
  const walk = (node: PlanNode, depth: number) => {
    if (depth > 3) return;
    const relation = node['Index Name'] ?? node['Relation Name'];
    nodes.push(`${node['Node Type']}${relation ? ` ${relation}` : ''}`);
    for (const child of node.Plans ?? []) walk(child, depth + 1);
  };
  walk(rows[0]!['QUERY PLAN'][0].Plan, 0);
  return nodes.join(' > ');
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

/**
 * The live trade recordTrade writes. Dated before every seeded trade, so that the trades it writes
 * (as many at N as at 0, with other ids) never reach the latest 50 that the next level compares.
 */
const LIVE_FILL = {
  execution_time: new Date(Date.UTC(2020, 0, 1)),
  market_id: 'MKT-BENCH-1',
  side: 'buy' as const,
  price: new Decimal('0.4200'),
  quantity: 5,
  fees: new Decimal('0.0100'),
  trade_source: 'manual' as const,
  order_type: 'limit' as const,
  market_price: new Decimal('0.4100'),
  trade_metadata: { bench: 'isolation' },
};

const QUERIES = [
  { name: 'listRecentTrades', what: 'latest 50 live trades', query: listRecentTrades, params: { limit: 50 } },
  { name: 'listOpenPositions', what: 'open live positions', query: listOpenPositions, params: {} },
] as const;

async function latencies(server: ServerTarget, databases: Record<'cur0' | 'curN' | 'adr0' | 'adrN', string>, flags: Flags) {
  const pools = Object.fromEntries(Object.entries(databases).map(([key, name]) => [key, pool(server, name)])) as Record<keyof typeof databases, pg.Pool>;
  const live = Object.fromEntries(Object.entries(pools).map(([key, p]) => [key, precogDb(p).scope('live', { api: 'live' })])) as Record<
    keyof typeof databases,
    ReturnType<ReturnType<typeof precogDb>['scope']>
  >;
  const options = flags.quick ? { rounds: 10, warmup: 2, inner: 2 } : { rounds: 60, warmup: 5, inner: 4 };
  try {
    const results = [];
    for (const design of ['current', 'adr107'] as const) {
      const [atN, at0] = design === 'current' ? (['curN', 'cur0'] as const) : (['adrN', 'adr0'] as const);
      for (const item of QUERIES) {
        const call = (key: keyof typeof databases) => () =>
          item.name === 'listRecentTrades' ? live[key].listRecentTrades({ limit: 50 }) : live[key].listOpenPositions();
        const [rowsN, rows0] = [await call(atN)(), await call(at0)()];
        if (JSON.stringify(rowsN) !== JSON.stringify(rows0)) throw new Error(`${item.name} returns different live rows at N and at 0`);
        const result = await alternate(call(atN), call(at0), options);
        const params = { ...item.params, execution_environment: 'live' };
        results.push({
          design,
          query: item.name,
          what: item.what,
          rows: rowsN.length,
          sideA: 'at N',
          sideB: 'at 0',
          ...summarise(result),
          planAtN: await planSummary(pools[atN], item.query, params),
          planAt0: await planSummary(pools[at0], item.query, params),
        });
        log(`isolation: ${design} ${item.name}: ${result.medianA.toFixed(3)} ms at N vs ${result.medianB.toFixed(3)} ms at 0 (×${result.ratio.toFixed(2)})`);
      }
    }
    // Writing a live trade, this schema only, after the reads (the trades it writes are the newest).
    const write = (key: 'curN' | 'cur0') => () => live[key].recordTrade(LIVE_FILL);
    const result = await alternate(write('curN'), write('cur0'), options);
    results.push({ design: 'current', query: 'recordTrade', what: 'record a live trade', rows: 1, sideA: 'at N', sideB: 'at 0', ...summarise(result) });
    log(`isolation: current recordTrade: ${result.medianA.toFixed(3)} ms at N vs ${result.medianB.toFixed(3)} ms at 0 (×${result.ratio.toFixed(2)})`);
    return results;
  } finally {
    for (const p of Object.values(pools)) await p.end();
  }
}

async function fingerprint(client: pg.Pool): Promise<Record<string, string>> {
  const { rows } = await client.query<Record<string, string>>(`
    SELECT
      (SELECT count(*) FROM trades WHERE execution_environment = 'live')::text AS live_trades,
      (SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM trades t WHERE execution_environment = 'live') AS live_trades_md5,
      (SELECT count(*) FROM positions WHERE execution_environment = 'live')::text AS live_positions,
      (SELECT md5(string_agg(p::text, '|' ORDER BY id)) FROM positions p WHERE execution_environment = 'live') AS live_positions_md5,
      (SELECT count(*) FROM trades WHERE execution_environment = 'paper')::text AS paper_trades,
      (SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM trades t WHERE execution_environment = 'paper') AS paper_trades_md5,
      (SELECT count(*) FROM positions WHERE execution_environment = 'paper')::text AS paper_positions,
      (SELECT md5(string_agg(p::text, '|' ORDER BY id)) FROM positions p WHERE execution_environment = 'paper') AS paper_positions_md5`);
  // The backtest rows run by run: one query over every run's partitions locks each partition and
  // each of its indexes in one transaction, which with 1,000 runs exceeds the lock table
  // (max_locks_per_transaction 64 × 100 connections) and fails with "out of shared memory".
  const runs = (await client.query<{ id: string }>('SELECT id::text FROM backtest_runs ORDER BY id')).rows.map((row) => row.id);
  let trades = 0;
  let positions = 0;
  for (const run of runs) {
    const { rows: counts } = await client.query<{ trades: string; positions: string }>(
      `SELECT (SELECT count(*) FROM trades WHERE execution_environment = 'backtest' AND backtest_run_id = ${run}) AS trades,
              (SELECT count(*) FROM positions WHERE execution_environment = 'backtest' AND backtest_run_id = ${run}) AS positions`,
    );
    trades += Number(counts[0]!.trades);
    positions += Number(counts[0]!.positions);
  }
  return { ...rows[0]!, backtest_runs: String(runs.length), backtest_trades: String(trades), backtest_positions: String(positions) };
}

/** Whether one query can read every run's backtest trades (see fingerprint). */
async function crossRunRead(client: pg.Pool, runs: number) {
  const started = now();
  try {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM trades WHERE execution_environment = 'backtest'`);
    return { runs, query: "SELECT count(*) FROM trades WHERE execution_environment = 'backtest'", ok: true, rows: Number(rows[0]!.n), ms: round(now() - started) };
  } catch (error) {
    return { runs, query: "SELECT count(*) FROM trades WHERE execution_environment = 'backtest'", ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

async function purge(server: ServerTarget, database: string) {
  const client = pool(server, database);
  try {
    const before = await fingerprint(client);
    const crossRun = await crossRunRead(client, Number(before.backtest_runs));
    if (!crossRun.ok) log(`isolation: one query over the backtest trades of ${crossRun.runs} runs failed: ${crossRun.error}`);
    await client.query('CHECKPOINT'); // the load's dirty pages are not the purge's cost
    const started = now();
    let purgeError: string | undefined;
    let rows: { table_name: string; rows_deleted: string }[] = [];
    try {
      rows = (await client.query<{ table_name: string; rows_deleted: string }>('SELECT * FROM purge_backtest_data()')).rows;
    } catch (error) {
      // With many runs, one transaction dropping every run's partitions can exceed the lock table
      // (max_locks_per_transaction): recorded, and the runs are then deleted one by one.
      purgeError = error instanceof Error ? error.message : String(error);
    }
    const purgeMs = now() - started;
    let oneByOne: { runs: number; total_s: number; perRun_ms: number } | undefined;
    if (purgeError) {
      const ids = (await client.query<{ id: string }>('SELECT id::text FROM backtest_runs ORDER BY id')).rows.map((row) => row.id);
      const oneByOneStarted = now();
      for (const id of ids) await client.query('SELECT FROM purge_backtest_run($1)', [id]);
      const ms = now() - oneByOneStarted;
      oneByOne = { runs: ids.length, total_s: round(ms / 1000), perRun_ms: round(ms / Math.max(1, ids.length)) };
      log(`isolation: purge_backtest_data() failed (${purgeError}); ${ids.length} runs deleted one by one (purge_backtest_run) in ${oneByOne.total_s} s`);
    }
    const deleted = (table: string) =>
      purgeError ? Number(before[`backtest_${table}`]) : Number(rows.find((row) => row.table_name === table)?.rows_deleted ?? 0);
    const after = await fingerprint(client);
    const vacuumStarted = now();
    await client.query('VACUUM (ANALYZE) trades');
    await client.query('VACUUM (ANALYZE) positions');
    const vacuumMs = now() - vacuumStarted;
    const kept = Object.keys(before).filter((key) => !key.startsWith('backtest'));
    // (backtest_runs / backtest_trades / backtest_positions after: 0)
    const liveUnchanged = kept.every((key) => before[key] === after[key]);
    return {
      function: 'purge_backtest_data()',
      crossRunRead: crossRun,
      error: purgeError,
      oneByOne,
      deleted: { trades: deleted('trades'), positions: deleted('positions') },
      purge_s: round(purgeMs / 1000),
      vacuumAfter_s: round(vacuumMs / 1000),
      liveAndPaperUnchanged: liveUnchanged,
      backtestRowsLeft: { trades: Number(after.backtest_trades), positions: Number(after.backtest_positions) },
      before,
      after,
      goal: 'purge <= 1 s, live and paper rows unchanged',
    };
  } finally {
    await client.end();
  }
}

export async function measureIsolation(server: ServerTarget, databases: ScratchDatabases, flags: Flags) {
  const levels = flags.quick ? [20_000] : flags.with5m ? [1_000_000, 5_000_000] : [1_000_000];
  const runs = flags.quick ? QUICK_RUNS : RUNS;
  const cur0 = await databases.fresh('cur_0');
  let client = pool(server, cur0);
  const seedStarted = now();
  try {
    await seedLiveAndPaper(client);
  } finally {
    await client.end();
  }
  log(`isolation: live and paper data seeded in ${((now() - seedStarted) / 1000).toFixed(1)} s`);
  const curN = await databases.clone('cur_n', cur0);
  const adr0 = await databases.clone('adr_0', cur0);
  await dropExtraIndexes(server, adr0);

  const perLevel = [];
  let purged: Awaited<ReturnType<typeof purge>> | undefined;
  for (const level of levels) {
    log(`isolation: making ${runs} runs and loading ${level.toLocaleString('en-US')} backtest trades over them with INSERT ... SELECT generate_series as the owner`);
    client = pool(server, curN);
    let load;
    try {
      load = await loadBacktests(client, level, runs);
    } finally {
      await client.end();
    }
    log(`isolation: ${level.toLocaleString('en-US')} loaded in ${load.insert_s} s (+ ${load.vacuumAnalyze_s} s VACUUM ANALYZE)`);
    const cloneStarted = now();
    const adrN = await databases.clone('adr_n', curN);
    await dropExtraIndexes(server, adrN);
    const cloneS = round((now() - cloneStarted) / 1000);
    const results = await latencies(server, { cur0, curN, adr0, adrN }, flags);
    perLevel.push({ backtestTrades: level, load: { ...load, cloneForAdrBaseline_s: cloneS }, results });
    await databases.drop(adrN);
    // Purge once, at the first level (1 million; the quick run's small size): then reload from 0.
    if (!purged) {
      purged = await purge(server, curN);
      if (purged.error) log(`isolation: purge_backtest_data() failed in ${purged.purge_s} s; the runs were deleted one by one`);
      else log(`isolation: purge_backtest_data() removed ${purged.deleted.trades} trades and ${purged.deleted.positions} position versions in ${purged.purge_s} s`);
    }
  }
  // Issue 14's goal: every live query ≤ ×1.1 with RUNS runs of backtests, at the largest N measured.
  const largest = perLevel.at(-1)!;
  const current = largest.results.filter((r) => r.design === 'current');
  const queries = Object.fromEntries(current.map((r) => [r.query, { ratio: r.ratio, pairedRatio: r.pairedRatio, medianAtN_ms: r.medianA_ms, medianAt0_ms: r.medianB_ms, met: r.ratio <= LIVE_LATENCY_THRESHOLD }]));
  const worst = Math.max(...current.map((r) => r.ratio));
  return {
    goals: {
      live_latency_ratio_1000_runs: goal({ ratio: worst }, LIVE_LATENCY_THRESHOLD, 'most', {
        of: 'the largest ratio of the three queries',
        runs: largest.load.runs,
        backtestTrades: largest.load.trades,
        queries,
      }),
    },
    runs,
    live: { trades: LIVE_TRADES, positionVersions: LIVE_POSITION_KEYS * 3, openPositions: LIVE_POSITION_KEYS / 5 },
    paper: { trades: PAPER_TRADES, positionVersions: PAPER_POSITION_KEYS * 3 },
    backtestPositionsPerTrade: 1 / BACKTEST_TRADES_PER_POSITION,
    baselineDropped: EXTRA_INDEXES,
    goal: 'latency at N <= 1.5 × latency at 0',
    levels: perLevel,
    purge: purged,
  };
}

const round = (x: number) => Math.round(x * 100) / 100;
