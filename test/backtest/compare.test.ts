/**
 * sql/backtests.sql: runs side by side and a run against paper, against hand-computed values
 * (exact Decimal equality, drawdown included). Each test has a database of its own: runs are
 * committed (their partitions are DDL), and the comparisons aggregate everything they find.
 */
import { describe, expect, it } from 'vitest';
import { precogDb } from '../../src/scope/precog-db.js';
import { withFreshDatabase } from '../support/db.js';
import { strategyAndModel } from '../queries/fixtures.js';
import { closedPosition, d, trade } from './support.js';

const at = (day: number) => new Date(Date.UTC(2025, 0, day, 12));
const PERIOD = { period_start: new Date('2025-01-01T00:00:00Z'), period_end: new Date('2025-02-01T00:00:00Z') };

describe('compareBacktestRuns', () => {
  it('computes P&L, trades, win rate, fees and maximum drawdown per run, for given runs or a strategy', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const db = precogDb(pool);
      const { strategyId } = await strategyAndModel(pool);
      const other = await strategyAndModel(pool);
      const a = await db.backtests.create({ strategy_id: strategyId, ...PERIOD, parameters: { edge: '0.05' }, label: 'A' });
      const b = await db.backtests.create({ strategy_id: strategyId, ...PERIOD, parameters: { edge: '0.10' }, label: 'B' });
      const c = await db.backtests.create({ strategy_id: other.strategyId, ...PERIOD, label: 'C' });

      // Run A, closed out of exit order (the curve follows exit_time, not the order of writing):
      //   exit  P&L (×10 - 0.20 fees)  cumulative  peak  drawdown
      //   d1    (0.60-0.40) →  1.80     1.80       1.80   0
      //   d2    (0.30-0.50) → -2.20    -0.40       1.80   2.20
      //   d3    (0.50-0.40) →  0.80     0.40       1.80   1.40
      //   d4    (0.45-0.60) → -1.70    -1.30       1.80   3.10  ← maximum
      //   d5    (0.70-0.20) →  4.80     3.50       3.50   0
      //   d6    (0.42-0.40) →  0.00     3.50       3.50   0     (break-even: not a win)
      const runA = db.scope('backtest', { api: 'none', run: a });
      const writeOrder: [entry: string, exit: string, day: number][] = [['0.40', '0.50', 3], ['0.20', '0.70', 5], ['0.40', '0.60', 1], ['0.40', '0.42', 6], ['0.50', '0.30', 2], ['0.60', '0.45', 4]];
      for (const [entry, exit, day] of writeOrder) {
        await closedPosition(runA, strategyId, entry, exit, at(day));
      }
      await runA.openPosition({ market_id: 'MKT-BT-COMPARE', side: 'NO', entry_price: d('0.30'), quantity: 3, fees: d('0.05'), strategy_id: strategyId });
      for (const fees of ['0.07', '0.03', '0.05']) await trade(runA, strategyId, fees, at(2));

      // Run B: a loss first, so the drawdown is from the starting 0.
      //   (0.40-0.50) → -1.20 (cumulative -1.20, peak 0: drawdown 1.20), (0.40-0.30) → 0.80 (-0.40)
      const runB = db.scope('backtest', { api: 'none', run: b });
      await closedPosition(runB, strategyId, '0.50', '0.40', at(1));
      await closedPosition(runB, strategyId, '0.30', '0.40', at(2));
      await trade(runB, strategyId, '0.02', at(1));

      const rows = await db.crossEnvironment.compareBacktestRuns({ run_ids: [a.id, b.id, c.id] });
      expect(rows.map((row) => [row.execution_environment, row.backtest_run_id, row.label])).toEqual([
        ['backtest', c.id, 'C'],
        ['backtest', b.id, 'B'],
        ['backtest', a.id, 'A'],
      ]);
      const [rowC, rowB, rowA] = rows;
      expect(rowA).toMatchObject({ trade_count: 3n, positions_closed: 6n, winning_positions: 3n, strategy_id: strategyId, strategy_version: '1.0', parameters: { edge: '0.05' } });
      expect(rowA!.realized_pnl.equals(d('3.50'))).toBe(true);
      expect(rowA!.fees.equals(d('0.15'))).toBe(true);
      expect(rowA!.win_rate!.equals(d('0.5'))).toBe(true);
      expect(rowA!.max_drawdown.equals(d('3.10'))).toBe(true);

      expect(rowB).toMatchObject({ trade_count: 1n, positions_closed: 2n, winning_positions: 1n, parameters: { edge: '0.10' } });
      expect(rowB!.realized_pnl.equals(d('-0.40'))).toBe(true);
      expect(rowB!.fees.equals(d('0.02'))).toBe(true);
      expect(rowB!.win_rate!.equals(d('0.5'))).toBe(true);
      expect(rowB!.max_drawdown.equals(d('1.20'))).toBe(true);

      // Nothing happened in C: zeros, and no win rate without a closed position.
      expect(rowC).toMatchObject({ trade_count: 0n, positions_closed: 0n, winning_positions: 0n, win_rate: null });
      expect(rowC!.realized_pnl.isZero() && rowC!.fees.isZero() && rowC!.max_drawdown.isZero()).toBe(true);

      // All runs of one strategy, side by side; and the two filters together.
      const ofStrategy = await db.crossEnvironment.compareBacktestRuns({ strategy_id: strategyId });
      expect(ofStrategy.map((row) => row.backtest_run_id)).toEqual([b.id, a.id]);
      expect((await db.crossEnvironment.compareBacktestRuns({ strategy_id: strategyId, run_ids: [a.id, c.id] })).map((row) => row.backtest_run_id)).toEqual([a.id]);
      expect(await db.crossEnvironment.compareBacktestRuns({ run_ids: [999_999] })).toEqual([]);
    });
  });

  it('rounds the win rate to 4 places and counts only current versions of closed or settled positions', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const db = precogDb(pool);
      const { strategyId } = await strategyAndModel(pool);
      const run = await db.backtests.create({ strategy_id: strategyId, ...PERIOD });
      const scope = db.scope('backtest', { api: 'none', run });
      await closedPosition(scope, strategyId, '0.40', '0.50', at(1)); // 0.80
      await closedPosition(scope, strategyId, '0.40', '0.41', at(2)); // -0.10
      // A settled position whose price was marked twice first: only its current version counts.
      const held = await scope.openPosition({ market_id: 'MKT-BT-COMPARE', side: 'YES', entry_price: d('0.40'), quantity: 5, fees: d('0.03'), strategy_id: strategyId });
      await scope.updatePositionPrice({ position_key: held.position_key, current_price: d('0.45') });
      await scope.updatePositionPrice({ position_key: held.position_key, current_price: d('0.55') });
      await scope.syncBalance({ platform_id: 'kalshi', balance: d('100') });
      const settled = await scope.settlePosition({ position_key: held.position_key, settlement_value: d('1'), platform_id: 'kalshi' });
      expect(settled).toBeDefined();
      const [row] = await db.crossEnvironment.compareBacktestRuns({ run_ids: [run.id] });
      // Settled: (1 - 0.40) × 5 - 0.03 = 2.97; total 0.80 - 0.10 + 2.97 = 3.67; 2 of 3 win.
      expect(row).toMatchObject({ positions_closed: 3n, winning_positions: 2n });
      expect(row!.realized_pnl.equals(d('3.67'))).toBe(true);
      expect(row!.win_rate!.equals(d('0.6667'))).toBe(true);
      // Peak 0.80, trough 0.70 after the second: drawdown 0.10 (the settlement's exit is now, last).
      expect(row!.max_drawdown.equals(d('0.10'))).toBe(true);
    });
  });
});

describe('compareBacktestRunWithPaper', () => {
  it('puts a run beside paper trading of its strategy over its period, one row per side', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const db = precogDb(pool);
      const { strategyId } = await strategyAndModel(pool);
      const other = await strategyAndModel(pool);
      const run = await db.backtests.create({ strategy_id: strategyId, ...PERIOD, label: 'vs paper' });
      const backtest = db.scope('backtest', { api: 'none', run });
      await closedPosition(backtest, strategyId, '0.40', '0.60', at(1)); // 1.80
      await closedPosition(backtest, strategyId, '0.50', '0.30', at(2)); // -2.20 → drawdown 2.20
      await trade(backtest, strategyId, '0.05', at(1));

      const paper = db.scope('paper', { api: 'demo' });
      // In the period, the run's strategy: -1.20 (drawdown 1.20 from 0), then 2.80.
      await closedPosition(paper, strategyId, '0.40', '0.30', at(10));
      await closedPosition(paper, strategyId, '0.40', '0.70', at(20));
      // Left out: exit at period_end (half-open), another strategy, open positions.
      await closedPosition(paper, strategyId, '0.40', '0.90', PERIOD.period_end);
      await closedPosition(paper, other.strategyId, '0.40', '0.10', at(15));
      await paper.openPosition({ market_id: 'MKT-BT-COMPARE', side: 'YES', entry_price: d('0.40'), quantity: 1, fees: d('0.01'), strategy_id: strategyId });
      await trade(paper, strategyId, '0.04', at(10));
      await trade(paper, strategyId, '0.06', PERIOD.period_start);
      await trade(paper, strategyId, '0.50', PERIOD.period_end);
      await trade(paper, other.strategyId, '0.50', at(10));
      // Live trading of the same strategy is never part of it.
      const live = db.scope('live', { api: 'live' });
      await closedPosition(live, strategyId, '0.40', '0.90', at(12));
      await trade(live, strategyId, '0.50', at(12));

      const rows = await db.crossEnvironment.compareBacktestRunWithPaper({ run_id: run.id });
      expect(rows.map((row) => [row.execution_environment, row.backtest_run_id, row.compared_run_id])).toEqual([
        ['paper', null, run.id],
        ['backtest', run.id, run.id],
      ]);
      const [paperRow, backtestRow] = rows;
      for (const row of rows) {
        expect(row).toMatchObject({ strategy_id: strategyId, strategy_version: '1.0', period_start: PERIOD.period_start, period_end: PERIOD.period_end });
      }
      expect(backtestRow).toMatchObject({ trade_count: 1n, positions_closed: 2n, winning_positions: 1n });
      expect(backtestRow!.realized_pnl.equals(d('-0.40'))).toBe(true);
      expect(backtestRow!.fees.equals(d('0.05'))).toBe(true);
      expect(backtestRow!.win_rate!.equals(d('0.5'))).toBe(true);
      expect(backtestRow!.max_drawdown.equals(d('2.20'))).toBe(true);

      expect(paperRow).toMatchObject({ trade_count: 2n, positions_closed: 2n, winning_positions: 1n });
      expect(paperRow!.realized_pnl.equals(d('1.60'))).toBe(true);
      expect(paperRow!.fees.equals(d('0.10'))).toBe(true);
      expect(paperRow!.win_rate!.equals(d('0.5'))).toBe(true);
      expect(paperRow!.max_drawdown.equals(d('1.20'))).toBe(true);

      expect(await db.crossEnvironment.compareBacktestRunWithPaper({ run_id: 999_999 })).toEqual([]);
    });
  });
});
