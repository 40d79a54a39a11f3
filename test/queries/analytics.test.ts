/** sql/analytics.sql against the real server: environments side by side, training data never live. */
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { comparePaperAndLivePerformance, listTrainingDataTrades } from '../../generated/analytics.js';
import { closePosition, openPosition, type ClosePositionParams } from '../../generated/positions.js';
import { recordTrade, type RecordTradeParams } from '../../generated/trades.js';
import type { ExecutionEnvironment } from '../../generated/enums.js';
import { backtestRun, enterRun, leaveRun } from '../support/backtest-run.js';
import { withFreshDatabase, withRollback } from '../support/db.js';
import { strategyAndModel, unique } from './fixtures.js';

const d = (value: string) => new Decimal(value);

describe('comparePaperAndLivePerformance', () => {
  // Its own database: the comparison aggregates every trade and position in the window.
  it('returns one row per environment with exact totals, zeros where nothing happened', async () => {
    await withFreshDatabase(async (_database, db) => {
      const { strategyId, modelId } = await strategyAndModel(db);
      const at = new Date('2025-06-01T12:00:00Z');
      const trade = (environment: ExecutionEnvironment, price: string, quantity: number, fees: string, edge: string): RecordTradeParams => ({
        market_id: 'MKT-CMP', side: 'buy', price: d(price), quantity, fees: d(fees), trade_source: 'automated', order_type: 'limit',
        strategy_id: strategyId, model_id: modelId, execution_time: at, edge_value: d(edge), execution_environment: environment,
      });
      await recordTrade.run(trade('live', '0.55', 10, '0.07', '0.05'), db);
      await recordTrade.run(trade('live', '0.45', 4, '0.03', '0.01'), db);
      await recordTrade.run(trade('paper', '0.10', 3, '0.00', '0.10'), db);
      await recordTrade.run({ ...trade('paper', '0.20', 1, '0.01', '0.20'), execution_time: new Date('2024-01-01T00:00:00Z') }, db);

      const open = async (environment: ExecutionEnvironment, entry: string) =>
        (await openPosition.run({ market_id: 'MKT-CMP', side: 'YES', entry_price: d(entry), quantity: 10, fees: d('0.10'), strategy_id: strategyId, entry_time: at, execution_environment: environment }, db));
      const close = (environment: ExecutionEnvironment, key: ClosePositionParams['position_key'], exit: string) =>
        closePosition.run({ position_key: key, execution_environment: environment, exit_price: d(exit), exit_fees: d('0.10'), exit_time: new Date('2025-06-02T00:00:00Z'), exit_reason: 'test' }, db);
      const livePosition = await open('live', '0.40');
      await close('live', livePosition.position_key, '0.60'); // (0.60 - 0.40) * 10 - 0.20 = 1.80
      const paperWin = await open('paper', '0.40');
      await close('paper', paperWin.position_key, '0.50'); // 0.80
      const paperLoss = await open('paper', '0.40');
      await close('paper', paperLoss.position_key, '0.30'); // -1.20
      await open('paper', '0.40');

      const rows = await comparePaperAndLivePerformance.run({ from: new Date('2025-01-01T00:00:00Z'), to: new Date('2026-01-01T00:00:00Z') }, db);
      expect(rows.map((row) => row.execution_environment)).toEqual(['live', 'paper', 'backtest']);
      const [live, paper, backtest] = rows;
      expect(live).toMatchObject({ trade_count: 2n, contracts: 14n, positions_closed: 1n, winning_positions: 1n, open_positions: 0n });
      expect(live!.notional.toFixed(2)).toBe('7.30'); // 0.55 * 10 + 0.45 * 4
      expect(live!.fees.toFixed(2)).toBe('0.10');
      expect(live!.average_edge!.toFixed(2)).toBe('0.03');
      expect(live!.realized_pnl.toFixed(2)).toBe('1.80');
      expect(paper).toMatchObject({ trade_count: 1n, contracts: 3n, positions_closed: 2n, winning_positions: 1n, open_positions: 1n });
      expect(paper!.notional.toFixed(2)).toBe('0.30');
      expect(paper!.realized_pnl.toFixed(2)).toBe('-0.40');
      expect(backtest).toMatchObject({ trade_count: 0n, contracts: 0n, positions_closed: 0n, winning_positions: 0n, open_positions: 0n, average_edge: null });
      expect(backtest!.notional.isZero()).toBe(true);
      expect(backtest!.realized_pnl.isZero()).toBe(true);

      const otherStrategy = await comparePaperAndLivePerformance.run(
        { from: new Date('2025-01-01T00:00:00Z'), to: new Date('2026-01-01T00:00:00Z'), strategy_id: strategyId + 1000 },
        db,
      );
      expect(otherStrategy.every((row) => row.trade_count === 0n && row.open_positions === 0n)).toBe(true);
    });
  });
});

describe('listTrainingDataTrades', () => {
  it('returns paper and backtest trades of the window, never live', async () => {
    await withRollback(async (db) => {
      const market = unique('MKT-TRAIN');
      const at = new Date('1999-03-03T03:03:03Z');
      const fill = (environment: ExecutionEnvironment, price: string): RecordTradeParams => ({
        market_id: market, side: 'sell', price: d(price), quantity: 2, fees: d('0.02'), trade_source: 'manual', order_type: 'market',
        execution_time: at, execution_environment: environment,
      });
      const run = await backtestRun(db);
      await recordTrade.run(fill('live', '0.11'), db);
      const paper = await recordTrade.run(fill('paper', '0.22'), db);
      await enterRun(db, run);
      const backtest = await recordTrade.run(fill('backtest', '0.33'), db);
      await leaveRun(db);
      const rows = (await listTrainingDataTrades.run({ from: at, to: new Date(at.getTime() + 1) }, db)).filter((row) => row.market_id === market);
      expect(rows.map((row) => [row.id, row.execution_environment, row.price.toFixed(2)])).toEqual([
        [paper!.id, 'paper', '0.22'],
        [backtest!.id, 'backtest', '0.33'],
      ]);
      expect(rows[0]).toMatchObject({ side: 'sell', quantity: 2, trade_source: 'manual', order_type: 'market', trade_metadata: {}, position_id: null });
      expect(rows[0]!.fees.equals(d('0.02'))).toBe(true);
      expect(rows[0]!.execution_time.getTime()).toBe(at.getTime());
    });
  });
});
