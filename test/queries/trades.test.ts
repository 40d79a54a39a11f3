/** sql/trades.sql against the real server: values round-trip, and every read is one environment. */
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import {
  getTradeById,
  listRecentTrades,
  listTradesByMarket,
  listTradesByStrategy,
  recordTrade,
  recordTrades,
  type RecordTradeParams,
} from '../../generated/trades.js';
import { openPosition } from '../../generated/positions.js';
import type { ExecutionEnvironment } from '../../generated/enums.js';
import { backtestRun } from '../support/backtest-run.js';
import { withRollback } from '../support/db.js';
import { strategyAndModel, unique } from './fixtures.js';

const d = (value: string) => new Decimal(value);

function fill(marketId: string, environment: ExecutionEnvironment, overrides: Partial<RecordTradeParams> = {}): RecordTradeParams {
  return {
    market_id: marketId,
    side: 'buy',
    price: d('0.55'),
    quantity: 10,
    fees: d('0.07'),
    trade_source: 'manual',
    order_type: 'limit',
    execution_environment: environment,
    ...overrides,
  };
}

describe('recordTrade', () => {
  it('returns every value as written, money exact', async () => {
    await withRollback(async (db) => {
      const { strategyId, modelId } = await strategyAndModel(db);
      const market = unique('MKT-TRADE');
      const position = await openPosition.run(
        { market_id: market, side: 'YES', entry_price: d('0.55'), quantity: 10, fees: d('0.07'), execution_environment: 'paper' },
        db,
      );
      const executionTime = new Date('2025-12-20T18:30:00.123Z');
      const trade = await recordTrade.run(
        fill(market, 'paper', {
          position_id: position!.id,
          strategy_id: strategyId,
          model_id: modelId,
          order_id: 'ORD-1',
          price: d('0.5537'),
          fees: d('0.0123'),
          trade_source: 'automated',
          order_type: 'market',
          execution_time: executionTime,
          calculated_probability: d('0.6100'),
          market_price: d('0.55'),
          edge_value: d('-0.0437'),
          trade_metadata: { fill: { venue: 'kalshi-demo', legs: [1, 2] } },
        }),
        db,
      );
      expect(trade).toMatchObject({
        market_id: market,
        position_id: position!.id,
        strategy_id: strategyId,
        model_id: modelId,
        order_id: 'ORD-1',
        side: 'buy',
        quantity: 10,
        trade_source: 'automated',
        order_type: 'market',
        trade_metadata: { fill: { venue: 'kalshi-demo', legs: [1, 2] } },
        execution_environment: 'paper',
      });
      expect(trade!.price.equals(d('0.5537'))).toBe(true);
      expect(trade!.fees.toFixed()).toBe('0.0123');
      expect(trade!.calculated_probability!.toFixed(4)).toBe('0.6100');
      expect(trade!.market_price!.equals(d('0.55'))).toBe(true);
      expect(trade!.edge_value!.toFixed()).toBe('-0.0437');
      expect(trade!.execution_time.getTime()).toBe(executionTime.getTime());
      expect(trade!.created_at).toBeInstanceOf(Date);
    });
  });

  it('defaults execution_time to now and trade_metadata to {}', async () => {
    await withRollback(async (db) => {
      await backtestRun(db, { enter: true });
      const trade = await recordTrade.run(fill(unique('MKT-TRADE'), 'backtest'), db);
      expect(trade!.trade_metadata).toEqual({});
      expect(trade!.execution_environment).toBe('backtest');
      const { rows: [now] } = await db.query<{ now: Date }>({ text: 'SELECT now() AS now' });
      expect(trade!.execution_time.getTime()).toBe(now!.now.getTime());
    });
  });
});

describe('recordTrades', () => {
  it('records many fills in one statement, in input order, nullable columns included', async () => {
    await withRollback(async (db) => {
      await backtestRun(db, { enter: true });
      const { strategyId, modelId } = await strategyAndModel(db);
      const market = unique('MKT-BULK');
      const n = 500;
      const prices = Array.from({ length: n }, (_, i) => d('0.0001').plus(d('0.0019').times(i)));
      const start = Date.parse('2024-09-08T17:00:00Z');
      const ids = await recordTrades.run(
        {
          execution_environment: 'backtest',
          market_ids: prices.map(() => market),
          position_ids: prices.map(() => null),
          strategy_ids: prices.map(() => strategyId),
          model_ids: prices.map(() => modelId),
          order_ids: prices.map((_, i) => (i % 2 ? null : `BT-${i}`)),
          sides: prices.map((_, i) => (i % 3 ? 'buy' : 'sell')),
          prices,
          quantities: prices.map((_, i) => i + 1),
          fees: prices.map(() => d('0.01')),
          trade_sources: prices.map(() => 'automated'),
          order_types: prices.map(() => 'limit'),
          execution_times: prices.map((_, i) => new Date(start + i * 1000)),
          calculated_probabilities: prices.map((_, i) => (i % 5 ? d('0.5') : null)),
          market_prices: prices.map(() => null),
          edge_values: prices.map(() => d('0.0125')),
          trade_metadata: prices.map((_, i) => (i === 0 ? { note: 'first "quoted" \\ fill' } : null)),
        },
        db,
      );
      expect(ids).toHaveLength(n);
      expect(ids.every((row) => row.execution_environment === 'backtest')).toBe(true);
      // Ids come back in input order; read the rows back by id to check every value.
      const byId = new Map(
        (await listTradesByMarket.run({ execution_environment: 'backtest', market_id: market }, db)).map((row) => [row.id, row]),
      );
      const rows = ids.map(({ id }) => byId.get(id)!);
      rows.forEach((row, i) => {
        expect(row.price.equals(prices[i]!)).toBe(true);
        expect(row.quantity).toBe(i + 1);
        expect(row.order_id).toBe(i % 2 ? null : `BT-${i}`);
        expect(row.side).toBe(i % 3 ? 'buy' : 'sell');
        expect(row.calculated_probability?.toFixed(1) ?? null).toBe(i % 5 ? '0.5' : null);
        expect(row.execution_time.getTime()).toBe(start + i * 1000);
        expect(row.execution_environment).toBe('backtest');
      });
      expect(rows[0]!.trade_metadata).toEqual({ note: 'first "quoted" \\ fill' });
      expect(rows[1]!.trade_metadata).toEqual({});
      const total = rows.reduce((sum, row) => sum.plus(row.price.times(row.quantity)), new Decimal(0));
      const { rows: [sum] } = await db.query<{ notional: string }>({
        text: 'SELECT sum(price * quantity)::text AS notional FROM trades WHERE market_id = $1',
        values: [market],
      });
      expect(total.equals(d(sum!.notional))).toBe(true);
    });
  });
});

describe('reads are scoped to one environment', () => {
  it('listTradesByMarket, listTradesByStrategy, listRecentTrades and getTradeById never return another environment', async () => {
    await withRollback(async (db) => {
      const { strategyId, modelId } = await strategyAndModel(db);
      const market = unique('MKT-SCOPE');
      const attributed = { strategy_id: strategyId, model_id: modelId, trade_source: 'automated' as const };
      const live = await recordTrade.run(fill(market, 'live', { ...attributed, execution_time: new Date('2025-01-01T00:00:01Z') }), db);
      const paper1 = await recordTrade.run(fill(market, 'paper', { ...attributed, price: d('0.41'), execution_time: new Date('2025-01-01T00:00:02Z') }), db);
      const paper2 = await recordTrade.run(fill(market, 'paper', { ...attributed, price: d('0.42'), execution_time: new Date('2025-01-01T00:00:03Z') }), db);

      const byMarket = await listTradesByMarket.run({ market_id: market, execution_environment: 'paper' }, db);
      expect(byMarket.map((t) => t.id)).toEqual([paper2.id, paper1.id]);
      expect(byMarket.map((t) => t.price.toFixed(2))).toEqual(['0.42', '0.41']);
      expect(byMarket.every((t) => t.execution_environment === 'paper')).toBe(true);

      const byStrategy = await listTradesByStrategy.run({ strategy_id: strategyId, execution_environment: 'live' }, db);
      expect(byStrategy.map((t) => t.id)).toEqual([live.id]);
      expect(byStrategy[0]!.strategy_id).toBe(strategyId);

      const recent = await listRecentTrades.run({ execution_environment: 'paper', limit: 1 }, db);
      expect(recent).toHaveLength(1);
      expect(recent[0]!.execution_environment).toBe('paper');
      const recentAll = await listRecentTrades.run({ execution_environment: 'paper', limit: 1000n }, db);
      expect(recentAll.map((t) => t.id)).toEqual(expect.arrayContaining([paper1.id, paper2.id]));
      expect(recentAll.some((t) => t.id === live.id)).toBe(false);
      const times = recentAll.map((t) => t.execution_time.getTime());
      expect([...times].sort((a, b) => b - a)).toEqual(times);

      const found = await getTradeById.run({ id: live.id, execution_environment: 'live' }, db);
      expect(found!.price.equals(d('0.55'))).toBe(true);
      expect(found!.execution_environment).toBe('live');
      expect(await getTradeById.run({ id: live.id, execution_environment: 'paper' }, db)).toBeUndefined();
    });
  });
});
