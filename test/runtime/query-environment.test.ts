/**
 * A scope binds its environment through `rows(params, db, environment)` instead of copying the
 * caller's parameters per call. That must be the same call as
 * `rows({ ...params, execution_environment: environment }, db)`: the same statement and values
 * sent, the same refusals, and the same error (naming the same parameter and value) when the
 * database refuses the row.
 */
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { getTradeById, listRecentTrades, recordFills, recordTrade } from '../../generated/trades.js';
import type { Queryable } from '../../src/runtime/query.js';

type AnyQuery = { rows(params: unknown, db: Queryable, environment?: string): Promise<unknown[]> };

/** A connection that records what it is sent, and answers with `answer` (rows, or a rejection). */
function recording(answer: () => Promise<{ rows: unknown[] }>) {
  const sent: unknown[] = [];
  const db: Queryable = {
    query: (config) => {
      sent.push(config);
      return answer() as never;
    },
  };
  return { db, sent };
}

const fill = {
  market_id: 'MKT-BIND', side: 'buy', price: new Decimal('0.42'), quantity: 5, fees: new Decimal('0.01'),
  trade_source: 'manual', order_type: 'limit', market_price: new Decimal('0.41'), trade_metadata: { simulated: true },
};

const cases: [string, AnyQuery, Record<string, unknown>][] = [
  ['getTradeById', getTradeById as never, { id: 7 }],
  ['listRecentTrades', listRecentTrades as never, { limit: 50 }],
  ['recordTrade', recordTrade as never, fill],
  // An expansion (picks) reads the statement's environment for rows that leave it out.
  ['recordFills', recordFills as never, { fills: [{ market_id: 'MKT-BIND', side: 'buy', price: new Decimal('0.5'), quantity: 1, fees: new Decimal('0'), trade_source: 'manual', order_type: 'limit' }] }],
];

async function outcome(body: () => Promise<unknown>) {
  try {
    return { value: await body() };
  } catch (error) {
    const e = error as Error & Record<string, unknown>;
    return { error: { name: e.name, message: e.message, field: e.field, rule: e.rule, column: e.column, value: e.value } };
  }
}

describe('rows(params, db, environment) is rows({ ...params, execution_environment }, db)', () => {
  it.each(cases)('%s: the same statement and values', async (_name, query, params) => {
    const bound = recording(async () => ({ rows: [] }));
    const copied = recording(async () => ({ rows: [] }));
    await query.rows(params, bound.db, 'paper');
    await query.rows({ ...params, execution_environment: 'paper' }, copied.db);
    expect(bound.sent).toEqual(copied.sent);
    expect(bound.sent).toHaveLength(1);
    expect((bound.sent[0] as { values: unknown[] }).values).toContain('paper');
  });

  it.each(cases)('%s: the same refusal of a bad environment and of a missing parameter', async (_name, query, params) => {
    const { db } = recording(async () => ({ rows: [] }));
    const badEnvironment = await outcome(() => query.rows(params, db, 'Paper'));
    expect(badEnvironment.error).toMatchObject({ name: 'InvalidValueError' });
    expect(badEnvironment).toEqual(await outcome(() => query.rows({ ...params, execution_environment: 'Paper' }, db)));
    const [first] = Object.keys(params);
    const missing = { ...params, [first!]: undefined };
    const refused = await outcome(() => query.rows(missing, db, 'paper'));
    expect(refused.error).toMatchObject({ name: 'InvalidValueError' });
    expect(refused).toEqual(await outcome(() => query.rows({ ...missing, execution_environment: 'paper' }, db)));
  });

  it('the same error when the database refuses the row, naming the parameter and its value', async () => {
    const refusal = Object.assign(new Error('new row for relation "trades_paper" violates check constraint "trades_market_price_range"'), {
      code: '23514', constraint: 'trades_market_price_range', table: 'trades_paper', severity: 'ERROR',
    });
    const { db } = recording(() => Promise.reject(refusal));
    const bound = await outcome(() => (recordTrade as unknown as AnyQuery).rows(fill, db, 'paper'));
    const copied = await outcome(() => (recordTrade as unknown as AnyQuery).rows({ ...fill, execution_environment: 'paper' }, db));
    expect(bound).toEqual(copied);
    expect(bound.error).toMatchObject({ name: 'ConstraintViolationError', column: 'market_price' });
  });
});
