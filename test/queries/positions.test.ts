/**
 * sql/positions.sql against the real server: SCD Type 2 versions copy every column forward
 * (the environment included: Precog's bug #662), and two concurrent updaters of one position
 * leave exactly one current version and lose no update.
 */
import { Decimal } from 'decimal.js';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  closePosition,
  getPositionById,
  getPositionByKey,
  listOpenPositions,
  listPositionHistory,
  openPosition,
  setTrailingStopState,
  updatePositionPrice,
  type OpenPositionParams,
} from '../../generated/positions.js';
import { createMarket } from '../../generated/markets.js';
import type { ExecutionEnvironment } from '../../generated/enums.js';
import { poolFor, testServer, withFreshDatabase, withRollback } from '../support/db.js';
import { backtestRun } from '../support/backtest-run.js';
import { strategyAndModel, unique } from './fixtures.js';
import { waitForLockWait } from '../support/lock-wait.js';

const d = (value: string) => new Decimal(value);

function position(marketId: string, environment: ExecutionEnvironment, overrides: Partial<OpenPositionParams> = {}): OpenPositionParams {
  return {
    market_id: marketId,
    side: 'YES',
    entry_price: d('0.40'),
    quantity: 10,
    fees: d('0.07'),
    execution_environment: environment,
    ...overrides,
  };
}

/** Columns that must be identical in every version of a position (copied forward). */
const STABLE = [
  'position_key', 'market_id', 'strategy_id', 'model_id', 'side', 'entry_price', 'quantity', 'entry_time',
  'calculated_probability', 'edge_at_entry', 'market_price_at_entry', 'target_price', 'stop_loss_price',
  'created_at', 'execution_environment',
] as const;

function stable(row: object) {
  return Object.fromEntries(STABLE.map((column) => {
    const value = (row as Record<string, unknown>)[column];
    return [column, Decimal.isDecimal(value) ? value.toFixed() : value instanceof Date ? value.toISOString() : value];
  }));
}

describe('openPosition', () => {
  it('mints POS-{n} and returns every value as written', async () => {
    await withRollback(async (db) => {
      await backtestRun(db, { enter: true });
      const { strategyId, modelId } = await strategyAndModel(db);
      const market = unique('MKT-POS');
      const entryTime = new Date('2024-11-03T20:15:00Z');
      const opened = await openPosition.run(
        position(market, 'backtest', {
          strategy_id: strategyId,
          model_id: modelId,
          side: 'NO',
          entry_price: d('0.3725'),
          quantity: 25,
          fees: d('0.1750'),
          trailing_stop_state: { activation: '0.45', peak: null },
          target_price: d('0.6'),
          stop_loss_price: d('0.25'),
          entry_time: entryTime,
          calculated_probability: d('0.45'),
          edge_at_entry: d('0.0775'),
          market_price_at_entry: d('0.3725'),
        }),
        db,
      );
      expect(opened!.position_key).toMatch(/^POS-[1-9][0-9]*$/);
      expect(opened).toMatchObject({
        market_id: market, strategy_id: strategyId, model_id: modelId, side: 'NO', quantity: 25, status: 'open',
        trailing_stop_state: { activation: '0.45', peak: null }, exit_time: null, exit_price: null, exit_reason: null,
        realized_pnl: null, row_current_ind: true, row_end_ts: null, execution_environment: 'backtest',
      });
      expect(opened!.entry_price.equals(d('0.3725'))).toBe(true);
      expect(opened!.current_price!.equals(d('0.3725'))).toBe(true);
      expect(opened!.unrealized_pnl!.isZero()).toBe(true);
      expect(opened!.fees.toFixed(4)).toBe('0.1750');
      expect(opened!.target_price!.toFixed()).toBe('0.6');
      expect(opened!.stop_loss_price!.toFixed()).toBe('0.25');
      expect(opened!.edge_at_entry!.toFixed()).toBe('0.0775');
      expect(opened!.entry_time.getTime()).toBe(entryTime.getTime());

      const second = await openPosition.run(position(market, 'backtest'), db);
      expect(second!.position_key).not.toBe(opened!.position_key);
    });
  });
});

describe('SCD Type 2 writes', () => {
  it('a paper position updated 10 times is still paper: 11 versions, one current, every column copied forward (#662)', async () => {
    await withRollback(async (db) => {
      const { strategyId, modelId } = await strategyAndModel(db);
      const market = unique('MKT-662');
      const opened = await openPosition.run(
        position(market, 'paper', {
          strategy_id: strategyId, model_id: modelId, calculated_probability: d('0.52'), edge_at_entry: d('0.12'),
          market_price_at_entry: d('0.40'), target_price: d('0.75'), stop_loss_price: d('0.30'),
          trailing_stop_state: { armed: false },
        }),
        db,
      );
      const key = opened!.position_key;
      for (let i = 1; i <= 10; i++) {
        const price = d('0.40').plus(d('0.0125').times(i));
        const next = await updatePositionPrice.run({ position_key: key, execution_environment: 'paper', current_price: price }, db);
        expect(next!.current_price!.equals(price)).toBe(true);
        // (current - entry) * quantity, exact: 0.0125 * i * 10
        expect(next!.unrealized_pnl!.equals(d('0.125').times(i))).toBe(true);
        expect(next!.execution_environment).toBe('paper');
        expect(next!.trailing_stop_state).toEqual({ armed: false });
        expect(next!.fees.equals(d('0.07'))).toBe(true);
      }
      const history = await listPositionHistory.run({ position_key: key, execution_environment: 'paper' }, db);
      expect(history).toHaveLength(11);
      expect(history.filter((version) => version.row_current_ind)).toHaveLength(1);
      expect(history.at(-1)!.row_current_ind).toBe(true);
      expect(new Set(history.map((version) => version.execution_environment))).toEqual(new Set(['paper']));
      for (const version of history) expect(stable(version)).toEqual(stable(opened!));
      // Contiguous timeline: each version ends where the next starts.
      for (let i = 0; i < history.length - 1; i++) {
        expect(history[i]!.row_end_ts!.getTime()).toBe(history[i + 1]!.row_start_ts.getTime());
      }
      // No version anywhere became live.
      const { rows } = await db.query<{ n: number }>({
        text: `SELECT count(*)::int AS n FROM positions WHERE position_key = $1 AND execution_environment <> 'paper'`,
        values: [key],
      });
      expect(rows[0]!.n).toBe(0);
    });
  });

  it('setTrailingStopState writes a new version with the state, the price untouched', async () => {
    await withRollback(async (db) => {
      const opened = await openPosition.run(position(unique('MKT-TS'), 'live'), db);
      const key = opened!.position_key;
      await updatePositionPrice.run({ position_key: key, execution_environment: 'live', current_price: d('0.47') }, db);
      const state = { activation_price: '0.45', peak_price: '0.47', stop_price: '0.43', distance: 0.04 };
      const next = await setTrailingStopState.run({ position_key: key, execution_environment: 'live', trailing_stop_state: state }, db);
      expect(next!.trailing_stop_state).toEqual(state);
      expect(next!.current_price!.toFixed(2)).toBe('0.47');
      expect(next!.unrealized_pnl!.toFixed(2)).toBe('0.70');
      expect(next!.execution_environment).toBe('live');
      const history = await listPositionHistory.run({ position_key: key, execution_environment: 'live' }, db);
      expect(history.map((version) => version.trailing_stop_state)).toEqual([null, null, state]);
    });
  });

  it('closePosition records exit price, time, reason and realized P&L net of all fees; a closed position takes no more changes', async () => {
    await withRollback(async (db) => {
      await backtestRun(db, { enter: true });
      const opened = await openPosition.run(
        position(unique('MKT-CLOSE'), 'backtest', { entry_time: new Date('2024-01-01T00:00:00Z') }),
        db,
      );
      const key = opened!.position_key;
      const exitTime = new Date('2024-01-02T00:00:00Z');
      const closed = await closePosition.run(
        { position_key: key, execution_environment: 'backtest', exit_price: d('0.63'), exit_fees: d('0.05'), exit_time: exitTime, exit_reason: 'take_profit' },
        db,
      );
      // (0.63 - 0.40) * 10 - (0.07 + 0.05) = 2.18
      expect(closed!.realized_pnl!.toFixed(4)).toBe('2.1800');
      expect(closed!.fees.toFixed(2)).toBe('0.12');
      expect(closed).toMatchObject({ status: 'closed', exit_reason: 'take_profit', row_current_ind: true, execution_environment: 'backtest' });
      expect(closed!.exit_price!.equals(d('0.63'))).toBe(true);
      expect(closed!.exit_time!.getTime()).toBe(exitTime.getTime());
      expect(closed!.unrealized_pnl!.isZero()).toBe(true);

      // Changes apply to open positions only: no row, nothing written.
      expect(await updatePositionPrice.run({ position_key: key, execution_environment: 'backtest', current_price: d('0.9') }, db)).toBeUndefined();
      expect(await setTrailingStopState.run({ position_key: key, execution_environment: 'backtest', trailing_stop_state: {} }, db)).toBeUndefined();
      expect(await closePosition.run({ position_key: key, execution_environment: 'backtest', exit_price: d('0.1'), exit_fees: d('0'), exit_reason: 'again' }, db)).toBeUndefined();
      expect(await listPositionHistory.run({ position_key: key, execution_environment: 'backtest' }, db)).toHaveLength(2);
    });
  });

  it('a change named with the wrong environment finds nothing and writes nothing', async () => {
    await withRollback(async (db) => {
      const opened = await openPosition.run(position(unique('MKT-ENV'), 'paper'), db);
      const key = opened!.position_key;
      expect(await updatePositionPrice.run({ position_key: key, execution_environment: 'live', current_price: d('0.5') }, db)).toBeUndefined();
      expect(await closePosition.run({ position_key: key, execution_environment: 'live', exit_price: d('0.5'), exit_fees: d('0'), exit_reason: 'x' }, db)).toBeUndefined();
      const current = await getPositionByKey.run({ position_key: key, execution_environment: 'paper' }, db);
      expect(current!.id).toBe(opened!.id);
      expect(current!.current_price!.equals(d('0.40'))).toBe(true);
    });
  });
});

describe('reads', () => {
  it('getPositionById and getPositionByKey return the version asked for, in its environment only', async () => {
    await withRollback(async (db) => {
      const opened = await openPosition.run(position(unique('MKT-GET'), 'live'), db);
      const updated = await updatePositionPrice.run(
        { position_key: opened!.position_key, execution_environment: 'live', current_price: d('0.41') },
        db,
      );
      const first = await getPositionById.run({ id: opened!.id, execution_environment: 'live' }, db);
      expect(first).toMatchObject({ id: opened!.id, row_current_ind: false, execution_environment: 'live' });
      expect(first!.current_price!.equals(d('0.40'))).toBe(true);
      expect(first!.row_end_ts).toBeInstanceOf(Date);
      const current = await getPositionByKey.run({ position_key: opened!.position_key, execution_environment: 'live' }, db);
      expect(current).toMatchObject({ id: updated!.id, row_current_ind: true, row_end_ts: null });
      expect(current!.current_price!.equals(d('0.41'))).toBe(true);
      expect(await getPositionById.run({ id: opened!.id, execution_environment: 'paper' }, db)).toBeUndefined();
      expect(await getPositionByKey.run({ position_key: opened!.position_key, execution_environment: 'backtest' }, db)).toBeUndefined();
    });
  });

  it('listOpenPositions: current open positions of one environment, with P&L at the current market price of their side', async () => {
    await withRollback(async (db) => {
      const ticker = unique('OPEN');
      await createMarket.run(
        { ticker, platform_id: 'kalshi', title: 'Will it?', market_type: 'binary', yes_price: d('0.62'), no_price: d('0.39') },
        db,
      );
      const market = `MKT-${ticker}`;
      const yes = await openPosition.run(position(market, 'paper', { side: 'YES', entry_price: d('0.55'), quantity: 10 }), db);
      const no = await openPosition.run(position(market, 'paper', { side: 'NO', entry_price: d('0.45'), quantity: 4 }), db);
      const noMarket = await openPosition.run(position(unique('MKT-NONE'), 'paper'), db);
      const closed = await openPosition.run(position(market, 'paper'), db);
      await closePosition.run({ position_key: closed!.position_key, execution_environment: 'paper', exit_price: d('0.5'), exit_fees: d('0'), exit_reason: 'stop' }, db);
      const live = await openPosition.run(position(market, 'live'), db);

      const open = await listOpenPositions.run({ execution_environment: 'paper' }, db);
      const mine = open.filter((p) => [yes, no, noMarket, closed, live].some((q) => q!.position_key === p.position_key));
      expect(mine.map((p) => p.position_key)).toEqual([yes!.position_key, no!.position_key, noMarket!.position_key]);
      expect(open.every((p) => p.execution_environment === 'paper' && p.status === 'open' && p.row_current_ind)).toBe(true);
      const [y, n, none] = mine;
      expect(y!.market_price!.toFixed(2)).toBe('0.62');
      expect(y!.unrealized_pnl_at_market!.toFixed(2)).toBe('0.70'); // (0.62 - 0.55) * 10
      expect(n!.market_price!.toFixed(2)).toBe('0.39');
      expect(n!.unrealized_pnl_at_market!.toFixed(2)).toBe('-0.24'); // (0.39 - 0.45) * 4
      expect(none!.market_price).toBeNull();
      expect(none!.unrealized_pnl_at_market).toBeNull();
    });
  });
});

describe('two concurrent updaters of one position', () => {
  it('the second waits for the first, gets zero rows instead of a second current version, and its retry applies on top', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const opened = await openPosition.run(position('MKT-RACE', 'paper'), pool);
      const key = opened!.position_key;
      const first = await pool.connect();
      const second = await pool.connect();
      try {
        const { rows: [backend] } = await second.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        const pid = backend!.pid;
        await first.query('BEGIN');
        const firstVersion = await updatePositionPrice.run({ position_key: key, execution_environment: 'paper', current_price: d('0.45') }, first);
        expect(firstVersion).toBeDefined();

        // Autocommit: the second statement starts while the first transaction holds the lock.
        const racing = updatePositionPrice.run({ position_key: key, execution_environment: 'paper', current_price: d('0.50') }, second);
        await waitForLockWait(pool, { pid }); // the race really happened: the second is blocked behind the first
        await first.query('COMMIT');
        const raced = await racing;
        // The locked row is no longer current when the lock is granted, and the first writer's
        // new version is not in the second statement's snapshot: nothing is written.
        expect(raced).toBeUndefined();

        let history = await listPositionHistory.run({ position_key: key, execution_environment: 'paper' }, pool);
        expect(history).toHaveLength(2);
        expect(history.filter((version) => version.row_current_ind)).toHaveLength(1);

        // The caller's retry is a new statement: it sees the first writer's version and applies on top.
        const retried = await updatePositionPrice.run({ position_key: key, execution_environment: 'paper', current_price: d('0.50') }, second);
        expect(retried!.current_price!.toFixed(2)).toBe('0.50');
        history = await listPositionHistory.run({ position_key: key, execution_environment: 'paper' }, pool);
        expect(history.map((version) => version.current_price!.toFixed(2))).toEqual(['0.40', '0.45', '0.50']);
        expect(history.map((version) => version.row_current_ind)).toEqual([false, false, true]);
        expect(history.every((version) => version.execution_environment === 'paper')).toBe(true);
        expect(history[2]!.unrealized_pnl!.toFixed(2)).toBe('1.00');
      } finally {
        await first.query('ROLLBACK').catch(() => undefined);
        first.release();
        second.release();
      }
    });
  });

  it('many concurrent writers with retry-on-zero-rows: every update applied, one current version, exact totals', async () => {
    await withFreshDatabase(async (database, fresh) => {
      // Every connection of the pool files its backtest rows under the run (as a backtest scope does per transaction).
      const run = await backtestRun(fresh);
      const pool = poolFor(database, testServer(), 10, { backtestRun: String(run.id) });
      try {
        const opened = await openPosition.run(position('MKT-STORM', 'backtest', { entry_price: d('0.10') }), pool);
        const key = opened!.position_key;
        const prices = Array.from({ length: 40 }, (_, i) => d('0.20').plus(d('0.0001').times(i)));
        await Promise.all(
          prices.map(async (price) => {
            for (;;) {
              const rows = await updatePositionPrice.run({ position_key: key, execution_environment: 'backtest', current_price: price }, pool);
              if (rows) return;
              // No row (undefined): a concurrent writer superseded the version this statement saw; retry.
            }
          }),
        );
        const history = await listPositionHistory.run({ position_key: key, execution_environment: 'backtest' }, pool);
        expect(history).toHaveLength(prices.length + 1);
        expect(history.filter((version) => version.row_current_ind)).toHaveLength(1);
        // Every price was applied exactly once (no lost update, no duplicate).
        const applied = history.slice(1).map((version) => version.current_price!.toFixed(4)).sort();
        expect(applied).toEqual(prices.map((price) => price.toFixed(4)).sort());
        expect(history.every((version) => version.execution_environment === 'backtest')).toBe(true);
      } finally {
        await pool.end();
      }
    });
  });
});
