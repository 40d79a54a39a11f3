/**
 * Bad input through the public API: each case gets a typed error that names the field and the
 * value, and the database holds no row from it afterwards.
 */
import { describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  ConstraintViolationError,
  Decimal,
  InvalidValueError,
  precogDb,
  resolveTradingConfiguration,
  type Queryable,
} from 'precog-db';
import { backtestRun } from '../support/backtest-run.js';
import { withRollback } from '../support/db.js';

const fill = {
  market_id: 'MKT-BAD-INPUT',
  side: 'buy',
  price: new Decimal('0.55'),
  quantity: 3,
  fees: new Decimal('0.01'),
  trade_source: 'manual',
  order_type: 'limit',
} as const;

type Case = [label: string, field: string, override: Record<string, unknown>];

/** Each override replaces one field of an otherwise valid paper fill. */
const badFills: Case[] = [
  ['a price below 0', 'price', { price: new Decimal('-0.01') }],
  ['a price above 1', 'price', { price: new Decimal('1.0001') }],
  ['a NaN price', 'price', { price: new Decimal(NaN) }],
  ['an infinite price', 'price', { price: new Decimal(Infinity) }],
  ['a JavaScript float as price', 'price', { price: 0.55 }],
  ['a JavaScript integer as price', 'price', { price: 1 }],
  ['a string as price', 'price', { price: '0.55' }],
  ['a float as fees', 'fees', { fees: 0.1 + 0.2 }],
  ['negative fees', 'fees', { fees: new Decimal('-1') }],
  ['a float market price', 'market_price', { market_price: 0.5 }],
  ['a calculated probability above 1', 'calculated_probability', { calculated_probability: new Decimal('1.5') }],
  ['an edge below -1', 'edge_value', { edge_value: new Decimal('-2') }],
  ['a zero quantity', 'quantity', { quantity: 0 }],
  ['a negative quantity', 'quantity', { quantity: -5 }],
  ['a fractional quantity', 'quantity', { quantity: 1.5 }],
  ['a NaN quantity', 'quantity', { quantity: NaN }],
  ['a quantity beyond int4', 'quantity', { quantity: 2 ** 31 }],
  ['a quantity given as string', 'quantity', { quantity: '3' }],
  ['an unknown trade source', 'trade_source', { trade_source: 'bot' }],
  ['an upper-case trade source', 'trade_source', { trade_source: 'Manual' }],
  ['an unknown side', 'side', { side: 'BUY' }],
  ['an unknown order type', 'order_type', { order_type: 'iceberg' }],
  ['a market id without MKT- prefix', 'market_id', { market_id: 'KXNFL-1' }],
  ['an injection-looking market id', 'market_id', { market_id: "'; DROP TABLE trades; --" }],
  ['an empty market id', 'market_id', { market_id: '' }],
  ['an oversized market id', 'market_id', { market_id: `MKT-${'X'.repeat(100_000)}` }],
  ['metadata that is an array', 'trade_metadata', { trade_metadata: [1, 2, 3] }],
  ['metadata that is a string', 'trade_metadata', { trade_metadata: 'not an object' }],
  ['metadata holding NaN', 'trade_metadata', { trade_metadata: { edge: NaN } }],
  ['metadata holding a function', 'trade_metadata', { trade_metadata: { callback: () => 1 } }],
  ['metadata holding a bigint', 'trade_metadata', { trade_metadata: { big: 10n } }],
  ['metadata holding a Date', 'trade_metadata', { trade_metadata: { at: new Date() } }],
  ['an invalid execution time', 'execution_time', { execution_time: new Date('not a date') }],
  ['an execution time given as string', 'execution_time', { execution_time: '2026-11-25' }],
  ['an automated trade without strategy and model', 'trades_automated_is_attributed', { trade_source: 'automated' }],
];

async function tradeCount(client: Queryable): Promise<number> {
  const { rows } = await client.query<{ n: number }>({ text: 'SELECT count(*)::int AS n FROM trades' });
  return rows[0]!.n;
}

describe('bad fills through a paper scope', () => {
  it.each(badFills)('refuses %s, naming %s', async (_label, field, override) => {
    await withRollback(async (client) => {
      const paper = precogDb(client).scope('paper', { api: 'demo' });
      const before = await tradeCount(client);
      // The savepoint keeps the test's transaction usable after the database refuses the row.
      const error = await paper
        .transaction((tx) => tx.recordTrade({ ...fill, ...override } as never))
        .catch((e: unknown) => e);
      expect(error).toSatisfy((e) => e instanceof InvalidValueError || e instanceof ConstraintViolationError);
      const typed = error as InvalidValueError | ConstraintViolationError;
      expect(typed.message).toContain(field);
      if (typed instanceof InvalidValueError) expect(typed.field).toContain(field);
      else expect(typed.rule === field || typed.column === field).toBe(true);
      expect(await tradeCount(client)).toBe(before);
    });
  });

  it('stores an injection-looking order id verbatim, as data', async () => {
    await withRollback(async (client) => {
      const paper = precogDb(client).scope('paper', { api: 'demo' });
      const orderId = "x'); DELETE FROM trades; --";
      const row = await paper.recordTrade({ ...fill, order_id: orderId });
      expect(row!.order_id).toBe(orderId);
      expect(await tradeCount(client)).toBeGreaterThan(0);
    });
  });
});

describe('bad environments and configuration', () => {
  const db = precogDb({ query: () => Promise.reject(new Error('never reached')) });
  it.each(['Live', 'demo', '', null, 'unknown', undefined, ' live', 'LIVE'])('refuses the environment %j', (environment) => {
    expect(() => db.scope(environment as never, { api: 'live' } as never)).toThrow(ConfigurationError);
  });

  it.each([
    ['test', 'live', undefined],
    ['production', 'demo', undefined],
    ['development', 'live', undefined],
    ['staging', 'live', undefined],
    ['prod', 'demo', undefined],
    ['production', 'real', undefined],
  ])('refuses PRECOG_ENV=%s with KALSHI_MODE=%s', (PRECOG_ENV, KALSHI_MODE, confirmLive) => {
    expect(() => resolveTradingConfiguration({ PRECOG_ENV, KALSHI_MODE, confirmLive })).toThrow(ConfigurationError);
  });
});

describe('bad bulk input', () => {
  it('refuses column arrays of unequal lengths, which unnest would pad with NULLs', async () => {
    await withRollback(async (client) => {
      const run = await backtestRun(client);
      const backtest = precogDb(client).scope('backtest', { api: 'none', run: run.id });
      const before = await tradeCount(client);
      const two = <T>(value: T) => [value, value];
      const error = await backtest
        .recordTrades({
          market_ids: two('MKT-BULK'),
          position_ids: two(null),
          strategy_ids: two(null),
          model_ids: two(null),
          order_ids: ['only one'],
          sides: two('buy' as const),
          prices: two(new Decimal('0.5')),
          quantities: two(1),
          fees: two(new Decimal('0')),
          trade_sources: two('manual' as const),
          order_types: two('limit' as const),
          execution_times: two(null),
          calculated_probabilities: two(null),
          market_prices: two(null),
          edge_values: two(null),
          trade_metadata: two(null),
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidValueError);
      expect((error as InvalidValueError).message).toMatch(/recordTrades: order_ids has 1 elements where market_ids has 2/);
      expect(await tradeCount(client)).toBe(before);
    });
  });
});
