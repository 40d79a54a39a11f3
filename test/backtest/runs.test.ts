/**
 * Backtest runs through scopes and db.backtests: a run scope sees and writes its run only, two
 * runs side by side, deleting one run leaves everything else as it was, purge_backtest_data
 * still purges every run. The tagged tables come from the registry, never a list written here.
 */
import { describe, expect, it } from 'vitest';
import { precogDb } from '../../src/scope/precog-db.js';
import { EnvironmentRuleError } from '../../src/runtime/database-errors.js';
import { strategyAndModel } from '../queries/fixtures.js';
import { withFreshDatabase } from '../support/db.js';
import { closedPosition, d, snapshot, taggedTables, trade, tradeEverything } from './support.js';

const PERIOD = { period_start: new Date('2025-01-01T00:00:00Z'), period_end: new Date('2025-02-01T00:00:00Z') };

/** `body` on a client in a transaction as precog_analyst (row-level security applies), rolled back. */
async function asAnalyst<T>(pool: import('pg').Pool, body: (client: import('pg').PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL ROLE precog_analyst');
    return await body(client);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}

/** Rows of `run` per tagged table, read as the owner (no row-level security). */
async function runRows(pool: import('pg').Pool, run: bigint): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of await taggedTables(pool)) {
    const { rows: [row] } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM public."${table}" WHERE backtest_run_id = $1`, [run]);
    counts[table] = Number(row!.n);
  }
  return counts;
}

describe('run scopes', () => {
  it('a run scope writes into its run and sees none of another run', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const db = precogDb(pool);
      const a = await db.backtests.create({ strategy_id: (await strategyAndModel(pool)).strategyId, ...PERIOD, label: 'A' });
      const b = await db.backtests.create({ strategy_id: (await strategyAndModel(pool)).strategyId, ...PERIOD, label: 'B' });
      const runA = db.scope('backtest', { api: 'none', run: a });
      const runB = db.scope('backtest', { api: 'none', run: b.id });

      const { opened } = await tradeEverything(runA);
      // Every tagged table got rows, all in run A.
      const inA = await runRows(pool, a.id);
      for (const table of await taggedTables(pool)) expect(inA[table], table).toBeGreaterThan(0);
      expect(Object.values(await runRows(pool, b.id)).every((n) => n === 0)).toBe(true);

      // B sees nothing of A: not by id, not by key, not in lists.
      expect(await runB.getPositionById({ id: opened.id })).toBeUndefined();
      expect(await runB.listPositionHistory({ position_key: opened.position_key })).toEqual([]);
      expect(await runB.getCurrentBalance({ platform_id: 'kalshi' })).toBeUndefined();
      const always = { from: new Date(0), to: new Date('3000-01-01T00:00:00Z') };
      expect(await runB.listLedgerEntries({ platform_id: 'kalshi', ...always })).toEqual([]);
      expect(await runB.listSettlements(always)).toEqual([]);
      expect((await runA.listSettlements(always)).length).toBe(1);
      // ...and cannot change it: closing A's position from B finds no such position.
      expect(await runB.closePosition({ position_key: opened.position_key, exit_price: d('0.5'), exit_fees: d('0'), exit_reason: 'x' })).toBeUndefined();
      // A reference from B to A's row is refused by the database, naming the rule.
      await expect(
        runB.recordTrade({ market_id: 'MKT-X', position_id: opened.id, side: 'buy', price: d('0.5'), quantity: 1, fees: d('0'), trade_source: 'manual', order_type: 'limit' }),
      ).rejects.toThrow(/backtest-run-cross-reference/);
      expect(await runA.getPositionById({ id: opened.id })).toMatchObject({ position_key: opened.position_key, execution_environment: 'backtest' });
      expect(Object.values(await runRows(pool, b.id)).every((n) => n === 0)).toBe(true);
    });
  });

  it('two runs side by side: interleaved writes each land in their own run', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const db = precogDb(pool);
      const [a, b] = [await db.backtests.create({ strategy_id: (await strategyAndModel(pool)).strategyId, ...PERIOD }), await db.backtests.create({ strategy_id: (await strategyAndModel(pool)).strategyId, ...PERIOD })];
      const scopes = [db.scope('backtest', { api: 'none', run: a }), db.scope('backtest', { api: 'none', run: b })] as const;
      const at = new Date('2025-01-10T00:00:00Z');
      await Promise.all(Array.from({ length: 10 }, (_, i) => trade(scopes[i % 2]!, null, '0.01', at)));
      await Promise.all([closedPosition(scopes[0], null, '0.40', '0.50', at), closedPosition(scopes[1], null, '0.40', '0.30', at)]);
      expect(await runRows(pool, a.id)).toMatchObject({ trades: 5, positions: 2 });
      expect(await runRows(pool, b.id)).toMatchObject({ trades: 5, positions: 2 });
      const [openA] = await scopes[0].listPositionHistory({ position_key: (await pool.query<{ k: string }>('SELECT position_key AS k FROM positions WHERE backtest_run_id = $1 LIMIT 1', [a.id])).rows[0]!.k as never });
      expect(openA).toBeDefined();
      const rows = await db.crossEnvironment.compareBacktestRuns({ run_ids: [a.id, b.id] });
      expect(rows.map((row) => [row.backtest_run_id, row.trade_count, row.realized_pnl.toFixed(2)])).toEqual([
        [b.id, 5n, '-1.20'],
        [a.id, 5n, '0.80'],
      ]);
    });
  });

  it('a backtest scope without a run is refused before any query', () => {
    const db = precogDb({ query: () => Promise.reject(new Error('not reached')) } as never);
    // @ts-expect-error - a backtest scope needs the run its rows belong to
    expect(() => db.scope('backtest', { api: 'none' })).toThrow(/needs the run/);
  });
});

describe('deleting runs', () => {
  it('deleting one run leaves every other run, live and paper unchanged', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const db = precogDb(pool);
      const runs = [];
      for (const label of ['A', 'B', 'C']) {
        const run = await db.backtests.create({ strategy_id: (await strategyAndModel(pool)).strategyId, ...PERIOD, label });
        await tradeEverything(db.scope('backtest', { api: 'none', run }));
        runs.push(run);
      }
      await tradeEverything(db.scope('paper', { api: 'demo' }));
      await tradeEverything(db.scope('live', { api: 'live' }));
      const [, b] = runs;
      const others = `NOT (execution_environment = 'backtest' AND backtest_run_id = ${b!.id})`;
      const before = await snapshot(pool, others);
      for (const table of await taggedTables(pool)) {
        expect(before[table]!.some((row) => row.includes(',live,')), `${table} has live rows`).toBe(true);
      }

      const deleted = await db.backtests.delete(b!);
      expect(deleted).toMatchObject({ id: b!.id, label: 'B' });
      // Gone from every read at once: the analyst's, and the deleted run's own scope.
      const tables = await taggedTables(pool);
      expect(await asAnalyst(pool, (client) => snapshot(client, 'true', tables))).toEqual(before);
      await expect(db.scope('backtest', { api: 'none', run: b! }).listRecentTrades({ limit: 50 })).rejects.toThrow(`[backtest-run] there is no backtest run ${b!.id}`);
      expect((await db.backtests.list()).map((run) => run.label)).toEqual(['C', 'A']);
      await expect(db.backtests.delete(b!.id)).rejects.toThrow(`There is no backtest run ${b!.id}`);
      // The sweep (started by delete, and again here) deletes its rows and keys, and nothing else.
      await db.backtests.sweep({ batchRows: 3 });
      expect(await snapshot(pool, 'true')).toEqual(before);
      expect(Object.values(await runRows(pool, b!.id)).every((n) => n === 0)).toBe(true);
      for (const run of [runs[0]!, runs[2]!]) expect(Object.values(await runRows(pool, run.id)).every((n) => n > 0)).toBe(true);
      const { rows: [left] } = await pool.query<{ keys: string; noted: string }>(
        `SELECT (SELECT count(*) FROM precog_environment_keys WHERE backtest_run_id = $1) AS keys,
                (SELECT count(*) FROM precog_backtest_runs_deleted) AS noted`, [b!.id]);
      expect(left).toEqual({ keys: '0', noted: '0' });
    });
  });

  it('purge_backtest_data still purges every run and nothing else, and runs can be made again', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const db = precogDb(pool);
      for (const label of ['A', 'B']) {
        const run = await db.backtests.create({ strategy_id: (await strategyAndModel(pool)).strategyId, ...PERIOD, label });
        await tradeEverything(db.scope('backtest', { api: 'none', run }));
      }
      await tradeEverything(db.scope('paper', { api: 'demo' }));
      await tradeEverything(db.scope('live', { api: 'live' }));
      const nonBacktest = await snapshot(pool, "execution_environment <> 'backtest'");
      const backtestRows = await snapshot(pool, "execution_environment = 'backtest'");

      const { rows } = await pool.query<{ table_name: string; rows_deleted: string }>('SELECT * FROM purge_backtest_data() ORDER BY table_name');
      expect(rows.map((row) => row.table_name)).toEqual(await taggedTables(pool));
      for (const row of rows) expect(Number(row.rows_deleted), row.table_name).toBe(backtestRows[row.table_name]!.length);
      expect(await snapshot(pool, 'true')).toEqual(nonBacktest);
      expect(await db.backtests.list()).toEqual([]);

      const again = await db.backtests.create({ strategy_id: (await strategyAndModel(pool)).strategyId, ...PERIOD, label: 'after the purge' });
      await tradeEverything(db.scope('backtest', { api: 'none', run: again }));
      for (const [table, n] of Object.entries(await runRows(pool, again.id))) expect(n, table).toBeGreaterThan(0);
    });
  });
});

it('EnvironmentRuleError is what a refused cross-run reference is', async () => {
  await withFreshDatabase(async (_database, pool) => {
    const db = precogDb(pool);
    const a = await db.backtests.create({ strategy_id: (await strategyAndModel(pool)).strategyId, ...PERIOD });
    const b = await db.backtests.create({ strategy_id: (await strategyAndModel(pool)).strategyId, ...PERIOD });
    const position = await closedPosition(db.scope('backtest', { api: 'none', run: a }), null, '0.40', '0.50', new Date('2025-01-02T00:00:00Z'));
    const refused = await db.scope('backtest', { api: 'none', run: b })
      .recordTrade({ market_id: 'MKT-X', position_id: position.id, side: 'buy', price: d('0.5'), quantity: 1, fees: d('0'), trade_source: 'manual', order_type: 'limit' })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(EnvironmentRuleError);
    expect(refused).toMatchObject({ rule: 'backtest-run-cross-reference', table: 'trades' });
  });
});
