/**
 * Runs at scale (issue 21, ADR-110): what a backtest costs as the database keeps more runs.
 *
 * One scratch database grows through SIZES runs kept (10, 1,000, 10,000; `--quick`: 10, 30, 100),
 * every run with TRADES_PER_RUN backtest trades (500: 5 M at 10,000 runs) and a tenth as many
 * position keys (2 versions each), made by create_backtest_run() and loaded as the owner; at each
 * size but the last it is copied (CREATE DATABASE ... TEMPLATE), so that every size is measured
 * side by side, in the same minutes: each call rotates over the sizes (ABC CBA ...), and the
 * machine's load falls on every size alike. At each size, through the public API:
 *
 *   - a run scope's calls on a run kept like the others: listRecentTrades({ limit: 50 }),
 *     recordTrade, openPosition, settlePosition, and compareBacktestRuns of that run; and a live
 *     scope's listRecentTrades beside them (rotated ABC CBA ..., median per call);
 *   - the relation locks a run scope's read and write take (pg_locks, in the scope's transaction);
 *   - db.backtests.create; db.backtests.delete of a kept run (and that its rows are gone at once
 *     from the analyst's reads and the run's own scope), then db.backtests.sweep() to the end;
 *   - compareBacktestRuns({ strategy_id }) over every run of one strategy (a tenth of the runs).
 *
 * At the largest size also: deleting a run of BIG_RUN trades (the note, and each sweep batch timed,
 * with live writes timed while the sweep runs), and purge_backtest_data() of every run, with the
 * server's max_locks_per_transaction recorded (the goal holds on PostgreSQL's default, 64).
 *
 * Figures: each call's median at the largest size ÷ at 10 runs, measured in this one run. The chart
 * (cost per call against runs kept, one line per call) is written as an SVG next to the JSON.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Decimal } from 'decimal.js';
import type pg from 'pg';
import { type BacktestRun, precogDb, type Scope } from '../src/index.js';
import { cloneDatabase, dropDatabase } from '../src/migrations/fresh-database.js';
import type { ServerTarget } from '../src/server/connection-string.js';
import { positionsSql, seedLiveAndPaper, tradesSql } from './isolation.js';
import { goal, type Goal } from './report.js';
import { log, median, now, pool, rotate, type Flags } from './support.js';

/** Issue 21: a run scope's call, and its locks, at 10,000 runs ≤ this × at 10. */
export const SCALE_RATIO_THRESHOLD = 1.2;
export const LIVE_RATIO_THRESHOLD = 1.1;
export const CREATE_MS_THRESHOLD = 50;
export const DELETE_MS_THRESHOLD = 50;
export const PURGE_S_THRESHOLD = 10;
export const COMPARE_STRATEGY_S_THRESHOLD = 2;

const STRATEGIES = 10;
const RUNS_PER_STATEMENT = 200;
const d = (value: string) => new Decimal(value);

export interface Level {
  runs: number;
  backtestTrades: number;
  load_s: number;
  calls: Record<string, number>;
  locks: { read: number; write: number };
  create_ms: number;
  delete_ms: number;
  hiddenAtOnce: boolean;
  sweep_ms: number;
  compareStrategy_ms: number;
  compareStrategyRuns: number;
}

export async function measureScale(server: ServerTarget, database: string, flags: Flags, out: string) {
  const sizes = flags.quick ? [10, 30, 100] : [10, 1_000, 10_000];
  const tradesPerRun = flags.quick ? 20 : 500;
  const keysPerRun = Math.max(1, tradesPerRun / 10);
  const bigRun = flags.quick ? 5_000 : 200_000;
  const samples = flags.quick ? 5 : 15;
  let owner = pool(server, database, 4);
  const copies: string[] = [];
  try {
    const { rows: [setting] } = await owner.query<{ max_locks_per_transaction: string }>('SHOW max_locks_per_transaction');
    const maxLocks = Number(setting!.max_locks_per_transaction);
    await seedLiveAndPaper(owner);
    await owner.query(`INSERT INTO strategies (strategy_id, strategy_name, strategy_version, status)
                       SELECT g, 'bench ' || g, '1', 'active' FROM generate_series(2, ${STRATEGIES}) g`);
    await owner.query(`INSERT INTO platforms (platform_id, name) VALUES ('kalshi', 'Kalshi') ON CONFLICT DO NOTHING`).catch(() => undefined);
    const kept: string[] = [];
    let loaded = 0;
    let runsMade = 0;
    const grown: { size: number; database: string; kept: string[]; trades: number; load_s: number }[] = [];

    for (const size of sizes) {
      // Grow to `size` runs kept, each with its trades and positions.
      const started = now();
      const { rows: made } = await owner.query<{ id: string }>(
        `SELECT (r).id::text AS id FROM (SELECT create_backtest_run(1 + g % ${STRATEGIES}, now() - interval '1 year', now(), 1, jsonb_build_object('g', g), 'scale ' || g) AS r
           FROM generate_series($1::int, $2::int) g) x ORDER BY 1`,
        [runsMade, runsMade + size - kept.length - 1],
      );
      const fresh = made.map((row) => row.id);
      // The fixture rows are valid by construction: loaded without the guards' triggers (as a
      // restore would), so that growing to 10,000 runs takes minutes, not an hour. Every index is kept.
      const loader = await owner.connect();
      try {
        await loader.query(`SET session_replication_role = replica`);
        for (let i = 0; i < fresh.length; i += RUNS_PER_STATEMENT) {
          const batch = fresh.slice(i, i + RUNS_PER_STATEMENT);
          await loader.query(positionsSql('backtest', 10_000_000 + (runsMade + i) * keysPerRun, keysPerRun, 2, 20, batch));
          await loader.query(`INSERT INTO precog_environment_keys (table_name, business_key, environment, backtest_run_id)
                              SELECT 'positions', position_key, 'backtest', backtest_run_id FROM positions
                               WHERE backtest_run_id = ANY ($1::bigint[]) AND row_current_ind ON CONFLICT DO NOTHING`, [batch]);
          await loader.query(tradesSql('backtest', 1, tradesPerRun, batch));
          if ((i / RUNS_PER_STATEMENT) % 10 === 9) log(`scale: ${kept.length + i + batch.length} / ${size} runs loaded (${((now() - started) / 1000).toFixed(0)} s)`);
        }
      } finally {
        await loader.query('RESET session_replication_role').catch(() => undefined);
        loader.release();
      }
      kept.push(...fresh);
      runsMade += fresh.length;
      loaded += fresh.length * tradesPerRun;
      await owner.query('VACUUM (ANALYZE) trades, positions, backtest_runs');
      const loadS = Math.round((now() - started) / 100) / 10;
      log(`scale: ${size} runs kept, ${loaded.toLocaleString('en-US')} backtest trades (${loadS} s to grow)`);
      let copy = database;
      if (size !== sizes.at(-1)) {
        copy = `${database}_${size}`;
        await owner.end();
        await cloneDatabase(server, database, copy);
        copies.push(copy);
        owner = pool(server, database, 4);
      }
      grown.push({ size, database: copy, kept: [...kept], trades: loaded, load_s: loadS });
    }

    // Every size side by side.
    const contexts = [];
    for (const g of grown) contexts.push(await context(server, g.database, g.kept, samples));
    const levels = await measureLevels(contexts, samples);
    grown.forEach((g, i) => Object.assign(levels[i]!, { runs: g.size, backtestTrades: g.trades, load_s: g.load_s }));
    for (const level of levels) log(`scale: ${JSON.stringify(level)}`);
    const top = contexts.at(-1)!;
    const big = await bigDelete(top.db, top.pool, top.live, bigRun);
    const purge = await purgeEverything(top.pool, top.kept.length);
    for (const c of contexts) await c.pool.end();
    contexts.length = 0;
    const base = levels[0]!;
    const last = levels.at(-1)!;
    const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
    const goals: Record<string, Goal> = {};
    for (const call of Object.keys(last.calls)) {
      const isLive = call === 'live listRecentTrades';
      goals[`runs_at_scale.${call}`] = goal({ ratio: ratio(last.calls[call]!, base.calls[call]!) }, isLive ? LIVE_RATIO_THRESHOLD : SCALE_RATIO_THRESHOLD, 'most', {
        at: 'most', runs: last.runs, ms: last.calls[call], baseline_ms: base.calls[call],
      });
    }
    goals['runs_at_scale.locks'] = goal({ ratio: ratio(Math.max(last.locks.read, last.locks.write), Math.max(base.locks.read, base.locks.write)) }, SCALE_RATIO_THRESHOLD, 'most', { locks: last.locks, baseline: base.locks });
    goals['runs_at_scale.create'] = goal({ ratio: ratio(last.create_ms, base.create_ms) }, SCALE_RATIO_THRESHOLD, 'most', { ms: last.create_ms, baseline_ms: base.create_ms });
    goals['runs_at_scale.create_ms'] = goal({ value: last.create_ms, unit: 'ms' }, CREATE_MS_THRESHOLD, 'most');
    goals['runs_at_scale.delete_ms'] = goal({ value: Math.max(last.delete_ms, big.delete_ms), unit: 'ms' }, DELETE_MS_THRESHOLD, 'most', {
      keptRun_ms: last.delete_ms, bigRun_ms: big.delete_ms, bigRunTrades: bigRun, hiddenAtOnce: last.hiddenAtOnce && big.hiddenAtOnce,
    });
    goals['runs_at_scale.purge_s'] = goal({ value: purge.ok ? purge.purge_s : Number.POSITIVE_INFINITY, unit: 's' }, PURGE_S_THRESHOLD, 'most', {
      runs: kept.length, maxLocksPerTransaction: maxLocks, provenOnDefault: maxLocks <= 64, ...(purge.error && { error: purge.error }),
    });
    goals['runs_at_scale.purge_s'].met &&= maxLocks <= 64;
    goals['runs_at_scale.compare_strategy_s'] = goal({ value: Math.round(last.compareStrategy_ms) / 1000, unit: 's' }, COMPARE_STRATEGY_S_THRESHOLD, 'most', { runs: last.compareStrategyRuns });
    const chart = join(dirname(out), 'runs-at-scale.svg');
    mkdirSync(dirname(chart), { recursive: true });
    writeFileSync(chart, svg(levels));
    log(`scale: chart written to ${chart}`);
    return { sizes, tradesPerRun, maxLocksPerTransaction: maxLocks, levels, bigDelete: big, purge, chart, goals };
  } finally {
    await owner.end().catch(() => undefined);
    for (const copy of copies) await dropDatabase(server, copy).catch(() => undefined);
  }
}

type Db = ReturnType<typeof precogDb>;
type LiveScope = Scope<'live'>;

interface Context {
  pool: pg.Pool;
  db: Db;
  live: LiveScope;
  kept: string[];
  probe: string;
  /** The probe run as the API names it (a BacktestRun, looked up by id). */
  probeRun: BacktestRun;
  toSettle: string[];
}

/** A database of one size, ready to measure: its probe run (the newest kept), positions to settle. */
async function context(server: ServerTarget, database: string, kept: string[], samples: number): Promise<Context> {
  const connection = pool(server, database, 4);
  const db = precogDb(connection, { environmentRoles: true });
  const probe = kept.at(-1)!;
  const probeRun = (await db.backtests.get(probe))!;
  const run = db.scope('backtest', { api: 'none', run: probeRun });
  await run.syncBalance({ platform_id: 'kalshi', balance: d('1000') }).catch(() => undefined);
  const toSettle: string[] = [];
  for (let i = 0; i < samples + 3; i++) {
    const opened = await run.openPosition({ market_id: 'MKT-BENCH-7', side: 'YES', entry_price: d('0.40'), quantity: 5, fees: d('0.03') });
    toSettle.push(opened.position_key);
  }
  return { pool: connection, db, live: db.scope('live', { api: 'live' }), kept: [...kept], probe, probeRun, toSettle };
}

/** Each call rotated over the sizes (ABC CBA ...), then each size's locks, create, delete, sweep and comparison. */
async function measureLevels(contexts: Context[], samples: number): Promise<Level[]> {
  const calls: [string, (c: Context) => Promise<unknown>][] = [
    ['listRecentTrades', (c) => c.db.scope('backtest', { api: 'none', run: c.probeRun }).listRecentTrades({ limit: 50 })],
    ['recordTrade', (c) => c.db.scope('backtest', { api: 'none', run: c.probeRun }).recordTrade({ market_id: 'MKT-BENCH-3', side: 'buy', price: d('0.42'), quantity: 5, fees: d('0.01'), trade_source: 'manual', order_type: 'limit' })],
    ['openPosition', (c) => c.db.scope('backtest', { api: 'none', run: c.probeRun }).openPosition({ market_id: 'MKT-BENCH-5', side: 'NO', entry_price: d('0.35'), quantity: 3, fees: d('0.02') })],
    ['settlePosition', (c) => c.db.scope('backtest', { api: 'none', run: c.probeRun }).settlePosition({ position_key: c.toSettle.pop()! as never, settlement_value: d('1'), platform_id: 'kalshi' })],
    ['compareBacktestRuns (one run)', (c) => c.db.crossEnvironment.compareBacktestRuns({ run_ids: [BigInt(c.probe)] })],
    ['live listRecentTrades', (c) => c.live.listRecentTrades({ limit: 50 })],
  ];
  const medians: Record<string, number>[] = contexts.map(() => ({}));
  for (const [name, call] of calls) {
    const timed = await rotate(contexts.map((c) => () => call(c)), { rounds: samples, warmup: 2, inner: 1 });
    timed.forEach((t, i) => (medians[i]![name] = Math.round(median(t) * 1000) / 1000));
  }
  const levels: Level[] = [];
  for (const [i, c] of contexts.entries()) {
    const locks = {
      read: await locksOf(c.pool, c.probe, `SELECT id FROM trades WHERE execution_environment = 'backtest' ORDER BY execution_time DESC, id DESC LIMIT 50`),
      write: await locksOf(c.pool, c.probe, `INSERT INTO trades (market_id, side, price, quantity, fees, trade_source, order_type, execution_environment)
                                             VALUES ('MKT-BENCH-1', 'buy', 0.5, 1, 0, 'manual', 'limit', 'backtest')`),
    };
    levels.push({ runs: 0, backtestTrades: 0, load_s: 0, calls: medians[i]!, locks, create_ms: 0, delete_ms: 0, hiddenAtOnce: true, sweep_ms: 0, compareStrategy_ms: 0, compareStrategyRuns: 0 });
  }
  // Create and delete, size after size in turn (five and three rounds).
  const creates: number[][] = contexts.map(() => []);
  const made: BacktestRun[][] = contexts.map(() => []);
  for (let round = 0; round < 5; round++) {
    for (const [i, c] of contexts.entries()) {
      const started = now();
      const created = await c.db.backtests.create({ strategy_id: 1, period_start: new Date('2025-01-01'), period_end: new Date('2025-02-01'), label: 'scale probe' });
      creates[i]!.push(now() - started);
      made[i]!.push(created);
    }
  }
  const deletes: number[][] = contexts.map(() => []);
  const victims = contexts.map((c) => c.kept.splice(-4, 3)); // three kept runs other than the probe (the newest)
  for (let round = 0; round < 3; round++) {
    for (const [i, c] of contexts.entries()) {
      const victim = victims[i]![round]!;
      const victimRun = (await c.db.backtests.get(victim))!;
      const started = now();
      await c.db.backtests.delete(victimRun);
      deletes[i]!.push(now() - started);
      levels[i]!.hiddenAtOnce &&= (await visibleRows(c.pool, c.db, victim)) === 0;
    }
  }
  const round = (x: number) => Math.round(x * 100) / 100;
  for (const [i, c] of contexts.entries()) {
    for (const run of made[i]!) await c.db.backtests.delete(run);
    const sweepStarted = now();
    await c.db.backtests.sweep();
    levels[i]!.sweep_ms = round(now() - sweepStarted);
    levels[i]!.create_ms = round(median(creates[i]!));
    levels[i]!.delete_ms = round(median(deletes[i]!));
  }
  for (let r = 0; r < 3; r++) {
    for (const [i, c] of contexts.entries()) {
      const started = now();
      await c.db.crossEnvironment.compareBacktestRuns({ strategy_id: 1 });
      (levels[i] as Level & { compares?: number[] }).compares = [...((levels[i] as Level & { compares?: number[] }).compares ?? []), now() - started];
    }
  }
  for (const [i, c] of contexts.entries()) {
    const level = levels[i] as Level & { compares?: number[] };
    level.compareStrategy_ms = round(median(level.compares!));
    delete level.compares;
    const { rows: [ofStrategy] } = await c.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM backtest_runs WHERE strategy_id = 1');
    level.compareStrategyRuns = ofStrategy!.n;
  }
  return levels;
}

/** Relation locks held after `statement`, run as a run scope runs it (role, run), rolled back. */
async function locksOf(owner: pg.Pool, run: string, statement: string): Promise<number> {
  const client = await owner.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL ROLE precog_backtest`);
    await client.query('SELECT precog_enter_backtest_run($1::bigint)', [run]);
    await client.query(statement);
    const { rows: [held] } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation'`);
    return held!.n;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}

/** Rows of `run` the analyst and the run's own scope still see (0 once the run is deleted). */
async function visibleRows(owner: pg.Pool, db: Db, run: string): Promise<number> {
  const client = await owner.connect();
  let n = 0;
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL ROLE precog_analyst');
    for (const table of (await owner.query<{ t: string }>('SELECT table_name AS t FROM precog_environment_tables')).rows) {
      const { rows: [row] } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM public."${table.t}" WHERE backtest_run_id = $1`, [run]);
      n += row!.n;
    }
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
  const known = await db.backtests.get(run);
  if (known) n += (await db.scope('backtest', { api: 'none', run: known }).listRecentTrades({ limit: 1 })).length;
  return n;
}

/** A run of `trades` trades deleted: the note, then every sweep batch timed, live writes timed meanwhile. */
async function bigDelete(db: Db, owner: pg.Pool, live: LiveScope, trades: number) {
  const made = await db.backtests.create({ strategy_id: 2, period_start: new Date('2025-01-01'), period_end: new Date('2025-02-01'), label: 'scale big run' });
  const id = String(made.id);
  await owner.query(positionsSql('backtest', 900_000_000, trades / 10, 2, 20, [id]));
  await owner.query(tradesSql('backtest', 1, trades, [id]));
  await owner.query('VACUUM (ANALYZE) trades, positions');
  const fill = () => live.recordTrade({ market_id: 'MKT-BENCH-9', side: 'buy', price: d('0.42'), quantity: 1, fees: d('0.01'), trade_source: 'manual', order_type: 'limit' });
  const liveBefore: number[] = [];
  for (let i = 0; i < 20; i++) {
    const started = now();
    await fill();
    liveBefore.push(now() - started);
  }
  const started = now();
  await owner.query('DELETE FROM backtest_runs WHERE id = $1', [id]); // what db.backtests.delete runs, without its sweep
  const deleteMs = now() - started;
  const hiddenAtOnce = (await visibleRows(owner, db, id)) === 0;
  const batches: number[] = [];
  const liveDuring: number[] = [];
  let sweeping = true;
  const liveLoop = (async () => {
    while (sweeping) {
      const t = now();
      await fill();
      liveDuring.push(now() - t);
    }
  })();
  for (;;) {
    const t = now();
    const { rows: [swept] } = await owner.query<{ n: string }>('SELECT precog_backtest_sweep(10000) AS n');
    batches.push(now() - t);
    if (swept!.n === '0') break;
  }
  sweeping = false;
  await liveLoop;
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    trades, positions: trades / 10 * 2, delete_ms: round(deleteMs), hiddenAtOnce,
    sweepBatches: batches.length, sweepBatchMedian_ms: round(median(batches)), sweepBatchMax_ms: round(Math.max(...batches)), sweepTotal_ms: round(batches.reduce((a, b) => a + b, 0)),
    liveWriteBefore_ms: round(median(liveBefore)), liveWriteDuringSweep_ms: round(median(liveDuring)), liveWriteDuringSweepMax_ms: round(Math.max(...liveDuring)),
  };
}

async function purgeEverything(owner: pg.Pool, runs: number) {
  const started = now();
  try {
    const { rows } = await owner.query<{ table_name: string; rows_deleted: string }>('SELECT * FROM purge_backtest_data()');
    const { rows: [left] } = await owner.query<{ runs: number; noted: number }>(
      'SELECT (SELECT count(*)::int FROM backtest_runs) AS runs, (SELECT count(*)::int FROM precog_backtest_runs_deleted) AS noted');
    return { ok: left!.runs === 0 && left!.noted === 0, runs, purge_s: Math.round((now() - started) / 10) / 100, deleted: Object.fromEntries(rows.map((r) => [r.table_name, Number(r.rows_deleted)])) };
  } catch (error) {
    return { ok: false, runs, purge_s: Math.round((now() - started) / 10) / 100, error: (error as Error).message };
  }
}

/** Cost per call (ms, log scale) against runs kept (log scale), one line per call. */
export function svg(levels: Level[]): string {
  const width = 720;
  const height = 420;
  const left = 70;
  const right = 230;
  const top = 30;
  const bottom = 50;
  const calls = Object.keys(levels[0]!.calls);
  const series: [string, number[]][] = [
    ...calls.map((call): [string, number[]] => [call, levels.map((l) => l.calls[call]!)]),
    ['db.backtests.create', levels.map((l) => l.create_ms)],
    ['db.backtests.delete', levels.map((l) => l.delete_ms)],
  ];
  const xs = levels.map((l) => Math.log10(l.runs));
  const all = series.flatMap(([, v]) => v).filter((v) => v > 0);
  const yMin = Math.floor(Math.log10(Math.min(...all)));
  const yMax = Math.ceil(Math.log10(Math.max(...all)));
  const x = (v: number) => left + ((v - xs[0]!) / (xs.at(-1)! - xs[0]! || 1)) * (width - left - right);
  const y = (v: number) => top + (1 - (Math.log10(Math.max(v, 10 ** yMin)) - yMin) / (yMax - yMin || 1)) * (height - top - bottom);
  const colours = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${left}" y="18" font-size="14">Runs at scale: cost per call against runs kept (medians, log-log)</text>`);
  for (let e = yMin; e <= yMax; e++) {
    parts.push(`<line x1="${left}" x2="${width - right}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 8}" y="${y(10 ** e) + 4}" text-anchor="end">${10 ** e >= 1 ? 10 ** e : (10 ** e).toFixed(-e)} ms</text>`);
  }
  levels.forEach((l, i) => {
    parts.push(`<line x1="${x(xs[i]!)}" x2="${x(xs[i]!)}" y1="${top}" y2="${height - bottom}" stroke="#eee"/>`);
    parts.push(`<text x="${x(xs[i]!)}" y="${height - bottom + 18}" text-anchor="middle">${l.runs.toLocaleString('en-US')}</text>`);
  });
  parts.push(`<text x="${(left + width - right) / 2}" y="${height - 12}" text-anchor="middle">runs kept</text>`);
  series.forEach(([name, values], i) => {
    const colour = colours[i % colours.length]!;
    const points = values.map((v, j) => `${x(xs[j]!).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points}"/>`);
    for (const [j, v] of values.entries()) parts.push(`<circle cx="${x(xs[j]!).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${colour}"/>`);
    parts.push(`<line x1="${width - right + 15}" x2="${width - right + 35}" y1="${top + 10 + i * 20}" y2="${top + 10 + i * 20}" stroke="${colour}" stroke-width="2"/>`);
    parts.push(`<text x="${width - right + 40}" y="${top + 14 + i * 20}">${name.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
