/**
 * Runs at scale (issue 21, ADR-110): what a backtest costs as the database keeps more runs.
 *
 * One scratch database grows through SIZES runs kept (10, 1,000, 10,000; `--quick`: 10, 30, 100),
 * every run with TRADES_PER_RUN backtest trades (500: 5 M at 10,000 runs) and a tenth as many
 * position keys (2 versions each), made by create_backtest_run() and loaded as the owner. At each
 * size, through the public API as an application calls it:
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
import { precogDb, type Scope } from '../src/index.js';
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
  const owner = pool(server, database, 4);
  try {
    const { rows: [setting] } = await owner.query<{ max_locks_per_transaction: string }>('SHOW max_locks_per_transaction');
    const maxLocks = Number(setting!.max_locks_per_transaction);
    await seedLiveAndPaper(owner);
    await owner.query(`INSERT INTO strategies (strategy_id, strategy_name, strategy_version, status)
                       SELECT g, 'bench ' || g, '1', 'active' FROM generate_series(2, ${STRATEGIES}) g`);
    await owner.query(`INSERT INTO platforms (platform_id, name) VALUES ('kalshi', 'Kalshi') ON CONFLICT DO NOTHING`).catch(() => undefined);
    const db = precogDb(owner, { environmentRoles: true });
    const live = db.scope('live', { api: 'live' });
    const kept: string[] = [];
    let loaded = 0;
    let runsMade = 0;
    const levels: Level[] = [];

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
      const loadS = (now() - started) / 1000;
      log(`scale: ${size} runs kept, ${loaded.toLocaleString('en-US')} backtest trades (${loadS.toFixed(1)} s to grow)`);
      levels.push(await measureLevel(db, owner, live, kept, size, samples));
      levels.at(-1)!.load_s = Math.round(loadS * 10) / 10;
      levels.at(-1)!.backtestTrades = loaded;
      log(`scale: ${JSON.stringify(levels.at(-1))}`);
    }

    const big = await bigDelete(db, owner, live, bigRun);
    const purge = await purgeEverything(owner, kept.length);
    const base = levels[0]!;
    const top = levels.at(-1)!;
    const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
    const goals: Record<string, Goal> = {};
    for (const call of Object.keys(top.calls)) {
      const isLive = call === 'live listRecentTrades';
      goals[`runs_at_scale.${call}`] = goal({ ratio: ratio(top.calls[call]!, base.calls[call]!) }, isLive ? LIVE_RATIO_THRESHOLD : SCALE_RATIO_THRESHOLD, 'most', {
        at: 'most', runs: top.runs, ms: top.calls[call], baseline_ms: base.calls[call],
      });
    }
    goals['runs_at_scale.locks'] = goal({ ratio: ratio(Math.max(top.locks.read, top.locks.write), Math.max(base.locks.read, base.locks.write)) }, SCALE_RATIO_THRESHOLD, 'most', { locks: top.locks, baseline: base.locks });
    goals['runs_at_scale.create'] = goal({ ratio: ratio(top.create_ms, base.create_ms) }, SCALE_RATIO_THRESHOLD, 'most', { ms: top.create_ms, baseline_ms: base.create_ms });
    goals['runs_at_scale.create_ms'] = goal({ value: top.create_ms, unit: 'ms' }, CREATE_MS_THRESHOLD, 'most');
    goals['runs_at_scale.delete_ms'] = goal({ value: Math.max(top.delete_ms, big.delete_ms), unit: 'ms' }, DELETE_MS_THRESHOLD, 'most', {
      keptRun_ms: top.delete_ms, bigRun_ms: big.delete_ms, bigRunTrades: bigRun, hiddenAtOnce: top.hiddenAtOnce && big.hiddenAtOnce,
    });
    goals['runs_at_scale.purge_s'] = goal({ value: purge.ok ? purge.purge_s : Number.POSITIVE_INFINITY, unit: 's' }, PURGE_S_THRESHOLD, 'most', {
      runs: kept.length, maxLocksPerTransaction: maxLocks, provenOnDefault: maxLocks <= 64, ...(purge.error && { error: purge.error }),
    });
    goals['runs_at_scale.purge_s'].met &&= maxLocks <= 64;
    goals['runs_at_scale.compare_strategy_s'] = goal({ value: Math.round(top.compareStrategy_ms) / 1000, unit: 's' }, COMPARE_STRATEGY_S_THRESHOLD, 'most', { runs: top.compareStrategyRuns });
    const chart = join(dirname(out), 'runs-at-scale.svg');
    mkdirSync(dirname(chart), { recursive: true });
    writeFileSync(chart, svg(levels));
    log(`scale: chart written to ${chart}`);
    return { sizes, tradesPerRun, maxLocksPerTransaction: maxLocks, levels, bigDelete: big, purge, chart, goals };
  } finally {
    await owner.end();
  }
}

type Db = ReturnType<typeof precogDb>;
type LiveScope = Scope<'live'>;

async function measureLevel(db: Db, owner: pg.Pool, live: LiveScope, kept: string[], size: number, samples: number): Promise<Level> {
  const probe = kept.at(-1)!;
  const run = db.scope('backtest', { api: 'none', run: probe });
  await run.syncBalance({ platform_id: 'kalshi', balance: d('1000') }).catch(() => undefined);
  // Positions to settle, one per sample (and warm-up), opened before the timing.
  const toSettle: string[] = [];
  for (let i = 0; i < samples + 3; i++) {
    const opened = await run.openPosition({ market_id: 'MKT-BENCH-7', side: 'YES', entry_price: d('0.40'), quantity: 5, fees: d('0.03') });
    toSettle.push(opened.position_key);
  }
  const calls: [string, () => Promise<unknown>][] = [
    ['listRecentTrades', () => run.listRecentTrades({ limit: 50 })],
    ['recordTrade', () => run.recordTrade({ market_id: 'MKT-BENCH-3', side: 'buy', price: d('0.42'), quantity: 5, fees: d('0.01'), trade_source: 'manual', order_type: 'limit' })],
    ['openPosition', () => run.openPosition({ market_id: 'MKT-BENCH-5', side: 'NO', entry_price: d('0.35'), quantity: 3, fees: d('0.02') })],
    ['settlePosition', () => run.settlePosition({ position_key: toSettle.pop()! as never, settlement_value: d('1'), platform_id: 'kalshi' })],
    ['compareBacktestRuns (one run)', () => db.crossEnvironment.compareBacktestRuns({ run_ids: [BigInt(probe)] })],
    ['live listRecentTrades', () => live.listRecentTrades({ limit: 50 })],
  ];
  const timed = await rotate(calls.map(([, call]) => call), { rounds: samples, warmup: 2, inner: 1 });
  const medians = Object.fromEntries(calls.map(([name], i) => [name, Math.round(median(timed[i]!) * 1000) / 1000]));

  const locks = { read: await locksOf(owner, probe, `SELECT id FROM trades WHERE execution_environment = 'backtest' ORDER BY execution_time DESC, id DESC LIMIT 50`),
    write: await locksOf(owner, probe, `INSERT INTO trades (market_id, side, price, quantity, fees, trade_source, order_type, execution_environment)
                                        VALUES ('MKT-BENCH-1', 'buy', 0.5, 1, 0, 'manual', 'limit', 'backtest')`) };

  const creates: number[] = [];
  const made: bigint[] = [];
  for (let i = 0; i < 5; i++) {
    const started = now();
    const created = await db.backtests.create({ strategy_id: 1, period_start: new Date('2025-01-01'), period_end: new Date('2025-02-01'), label: 'scale probe' });
    creates.push(now() - started);
    made.push(created.id);
  }
  // Delete kept runs (their rows) and the empty ones just made; the sweep is awaited apart.
  const deletes: number[] = [];
  let hiddenAtOnce = true;
  // Three kept runs other than the probe (the newest).
  for (const victim of kept.splice(-4, 3)) {
    const started = now();
    await db.backtests.delete(victim);
    deletes.push(now() - started);
    hiddenAtOnce &&= (await visibleRows(owner, db, victim)) === 0;
  }
  for (const id of made) await db.backtests.delete(id);
  const sweepStarted = now();
  await db.backtests.sweep();
  const sweepMs = now() - sweepStarted;

  const compares: number[] = [];
  for (let i = 0; i < 3; i++) {
    const started = now();
    await db.crossEnvironment.compareBacktestRuns({ strategy_id: 1 });
    compares.push(now() - started);
  }
  const { rows: [ofStrategy] } = await owner.query<{ n: number }>('SELECT count(*)::int AS n FROM backtest_runs WHERE strategy_id = 1');
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    runs: size, backtestTrades: 0, load_s: 0, calls: medians, locks,
    create_ms: round(median(creates)), delete_ms: round(median(deletes)), hiddenAtOnce, sweep_ms: round(sweepMs),
    compareStrategy_ms: round(median(compares)), compareStrategyRuns: ofStrategy!.n,
  };
}

/** Relation locks held after `statement`, run as a run scope runs it (role, run), rolled back. */
async function locksOf(owner: pg.Pool, run: string, statement: string): Promise<number> {
  const client = await owner.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL ROLE precog_backtest`);
    await client.query(`SELECT set_config('precog.backtest_run', $1, true)`, [run]);
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
  n += (await db.scope('backtest', { api: 'none', run }).listRecentTrades({ limit: 1 })).length;
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
