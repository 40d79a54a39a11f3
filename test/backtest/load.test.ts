/**
 * db.backtests.load: positions and the trades that reference them (rowOf) in one all-or-nothing
 * load; a failure anywhere, half a million rows in or before the first, leaves nothing behind:
 * no staging table, the run's partitions empty, no versioned key registered, no load pending.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { rowOf, type LoadRow } from '../../src/backtest/load.js';
import type { PositionKey } from '../../src/environment/brand.js';
import type { BacktestRun } from '../../src/backtest/runs.js';
import { precogDb } from '../../src/scope/precog-db.js';
import { withFreshDatabase } from '../support/db.js';
import { strategyAndModel } from '../queries/fixtures.js';
import { closedPosition, d, taggedTables } from './support.js';

const PERIOD = { period_start: new Date('2025-01-01T00:00:00Z'), period_end: new Date('2025-02-01T00:00:00Z') };
const at = (hour: number) => new Date(Date.UTC(2025, 0, 2, hour));

function positionRow(key: PositionKey<'backtest'>, strategyId: number, entry: string, exit: string, hour: number): LoadRow<'positions'> {
  const realized = d(exit).minus(entry).times(10).minus('0.20');
  return {
    position_key: key, market_id: 'MKT-BT-LOAD', strategy_id: strategyId, side: 'YES', entry_price: d(entry), quantity: 10,
    current_price: d(exit), fees: d('0.20'), status: 'closed', realized_pnl: realized, entry_time: at(hour - 1), exit_time: at(hour),
    exit_price: d(exit), row_current_ind: true, row_start_ts: at(hour), row_end_ts: null,
  };
}

function tradeRow(position: LoadRow<'trades'>['position_id'], fees: string, hour: number): LoadRow<'trades'> {
  return {
    market_id: 'MKT-BT-LOAD', position_id: position, side: 'buy', price: d('0.40'), quantity: 10, fees: d(fees),
    trade_source: 'manual', order_type: 'limit', execution_time: at(hour),
  };
}

/** What a failed load must not leave: staging tables, rows of the run, keys, pending loads. */
async function leftBehind(pool: pg.Pool, run: BacktestRun) {
  const { rows: [state] } = await pool.query<{ staging: string[]; keys: string; loads: string }>(
    `SELECT ARRAY(SELECT relname::text FROM pg_class WHERE relname LIKE '%\\_run\\_' || $1 || '\\_load' ORDER BY 1) AS staging,
            (SELECT count(*) FROM precog_environment_keys WHERE backtest_run_id = $2) AS keys,
            (SELECT count(*) FROM precog_backtest_loads) AS loads`,
    [String(run.id), run.id],
  );
  const rows: Record<string, number> = {};
  for (const table of await taggedTables(pool)) {
    rows[table] = Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM public."${table}" WHERE backtest_run_id = $1`, [run.id])).rows[0]!.n);
  }
  return { staging: state!.staging, keys: Number(state!.keys), loads: Number(state!.loads), nonEmpty: Object.entries(rows).filter(([, n]) => n > 0) };
}
const NOTHING = { staging: [], keys: 0, loads: 0, nonEmpty: [] };

describe('db.backtests.load', () => {
  it('loads positions and trades that reference them, visible in the run scope and to the comparison', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const db = precogDb(pool);
      const { strategyId } = await strategyAndModel(pool);
      const run = await db.backtests.create({ strategy_id: strategyId, ...PERIOD });
      const keys = await db.backtests.positionKeys(3);
      const positions = [positionRow(keys[0]!, strategyId, '0.40', '0.60', 1), positionRow(keys[1]!, strategyId, '0.50', '0.30', 2), positionRow(keys[2]!, strategyId, '0.40', '0.50', 3)];
      const trades = [tradeRow(rowOf('positions', 0), '0.10', 1), tradeRow(rowOf('positions', 1), '0.10', 2), tradeRow(rowOf('positions', 2), '0.05', 3), tradeRow(null, '0.01', 4)];
      const progress: string[] = [];
      const result = await db.backtests.load(run, { positions, trades }, { onProgress: (p) => progress.push(p.phase) });
      expect(result.run).toBe(run.id);
      expect(Object.fromEntries(result.tables.map((t) => [t.table, t.rows]))).toEqual({ positions: 3, trades: 4 });
      expect(progress.at(-1)).toBe('done');

      const scope = db.scope('backtest', { api: 'none', run });
      const loaded = await pool.query<{ key: string; id: number; trade_fees: string }>(
        `SELECT p.position_key AS key, p.id, t.fees::text AS trade_fees FROM positions p JOIN trades t ON t.position_id = p.id AND t.backtest_run_id = p.backtest_run_id
          WHERE p.backtest_run_id = $1 ORDER BY p.position_key`, [run.id]);
      expect(loaded.rows.map((row) => [row.key, row.trade_fees])).toEqual([[keys[0], '0.1000'], [keys[1], '0.1000'], [keys[2], '0.0500']].sort());
      for (const row of loaded.rows) expect(await scope.getPositionById({ id: row.id as never })).toMatchObject({ position_key: row.key });

      // 1.80 - 2.20 + 0.80 = 0.40; drawdown 2.20; fees of the trades 0.26.
      const [compared] = await db.crossEnvironment.compareBacktestRuns({ run_ids: [run.id] });
      expect(compared).toMatchObject({ trade_count: 4n, positions_closed: 3n, winning_positions: 2n });
      expect(compared!.realized_pnl.equals(d('0.40'))).toBe(true);
      expect(compared!.max_drawdown.equals(d('2.20'))).toBe(true);
      expect(compared!.fees.equals(d('0.26'))).toBe(true);
      expect(await leftBehind(pool, run)).toMatchObject({ staging: [], loads: 0, keys: 3 });
      // A run is loaded once.
      await expect(db.backtests.load(run, { trades: [tradeRow(null, '0.01', 5)] })).rejects.toThrow(/already has trades rows/);
    });
  });

  it('a float for money in row 500,000 of a big load leaves nothing behind', { timeout: 120_000 }, async () => {
    await withFreshDatabase(async (_database, pool) => {
      const db = precogDb(pool);
      const run = await db.backtests.create({ strategy_id: (await strategyAndModel(pool)).strategyId, ...PERIOD });
      const trades = Array.from({ length: 500_000 }, (_, i) => tradeRow(null, '0.01', i % 24));
      trades[499_999] = { ...trades[499_999]!, fees: 0.01 as never };
      const error = await db.backtests.load(run, { trades }).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'InvalidValueError' });
      expect(String((error as Error).message)).toMatch(/trades\[499999\]\.fees/);
      expect(await leftBehind(pool, run)).toEqual(NOTHING);
      // The run is as it was: the same load, corrected, succeeds.
      trades[499_999] = tradeRow(null, '0.01', 1);
      const result = await db.backtests.load(run, { trades: trades.slice(0, 1000) });
      expect(result.tables).toEqual([{ table: 'trades', rows: 1000 }]);
    });
  });

  describe('failures leave nothing behind', () => {
    // Each case is what the types refuse (another run's id or key, an unknown column) or cannot see
    // (a price above 1, a reference past the end): untyped code meets the same refusals at run time.
    type Loose = Record<string, Record<string, unknown>[]>;
    const cases: [string, (context: { pool: pg.Pool; strategyId: number; keys: PositionKey<'backtest'>[]; otherRunPosition: never }) => Loose, RegExp][] = [
      ['a value the database refuses (a price above 1) in the last row', ({ strategyId, keys }) => ({
        positions: [positionRow(keys[0]!, strategyId, '0.40', '0.50', 1), { ...positionRow(keys[1]!, strategyId, '0.40', '0.50', 2), entry_price: d('1.5') }],
      } as unknown as Loose), /entry_price|range|check/i],
      ['a reference to another run\'s row', ({ strategyId, keys, otherRunPosition }) => ({
        positions: [positionRow(keys[0]!, strategyId, '0.40', '0.50', 1)],
        trades: [tradeRow(rowOf('positions', 0), '0.01', 1), tradeRow(otherRunPosition, '0.01', 2)],
      } as unknown as Loose), /backtest-run-cross-reference/],
      ['an unknown column', ({ strategyId, keys }) => ({
        positions: [positionRow(keys[0]!, strategyId, '0.40', '0.50', 1)],
        trades: [{ ...tradeRow(rowOf('positions', 0), '0.01', 1), venue: 'x' }],
      } as unknown as Loose), /trades\[0\]\.venue.*not a column of trades/],
      ['a reference to a row the load does not have', ({ strategyId, keys }) => ({
        positions: [positionRow(keys[0]!, strategyId, '0.40', '0.50', 1)],
        trades: [tradeRow(rowOf('positions', 5), '0.01', 1)],
      } as unknown as Loose), /positions\[5\], which is not a row of this load/],
      ['a key of another run\'s position', ({ strategyId }) => ({
        positions: [positionRow('OTHER-RUN-KEY' as never, strategyId, '0.40', '0.50', 1)],
      } as unknown as Loose), /environment-immutable/],
    ];
    it.each(cases)('%s', async (_name, rowsOf, message) => {
      await withFreshDatabase(async (_database, pool) => {
        const db = precogDb(pool);
        const { strategyId } = await strategyAndModel(pool);
        const other = await db.backtests.create({ strategy_id: strategyId, ...PERIOD });
        const otherScope = db.scope('backtest', { api: 'none', run: other });
        const otherPosition = await closedPosition(otherScope, strategyId, '0.40', '0.50', at(1));
        const otherKey = otherPosition.position_key;
        const run = await db.backtests.create({ strategy_id: strategyId, ...PERIOD });
        const keys = await db.backtests.positionKeys(2);
        const rows = rowsOf({ pool, strategyId, keys, otherRunPosition: otherPosition.id as never });
        for (const row of rows.positions ?? []) if (row.position_key === 'OTHER-RUN-KEY') row.position_key = otherKey;
        await expect(db.backtests.load(run, rows as never)).rejects.toThrow(message);
        expect(await leftBehind(pool, run)).toEqual(NOTHING);
        // The other run is untouched.
        expect(await otherScope.getPositionById({ id: otherPosition.id })).toMatchObject({ position_key: otherKey });
      });
    });
  });
});
