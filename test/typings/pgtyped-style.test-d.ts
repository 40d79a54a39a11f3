/**
 * What the emitted types of pgtyped-style queries refuse: a null in a `!` field of a pick, an
 * execution_environment a scope binds, an id of another environment in a pick, and a
 * `Row | undefined` (a lookup by key) used without a check.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { Decimal, type Scope } from 'precog-db';
import type { RecordFillsParams } from 'precog-db/queries';

declare const paper: Scope<'paper'>;
declare const live: Scope<'live'>;

const fill = {
  market_id: 'MKT-X', side: 'buy', price: new Decimal('0.5'), quantity: 1, fees: new Decimal(0), trade_source: 'manual', order_type: 'limit',
} as const;

describe('array of picks', () => {
  it('keeps each field\'s !, takes readonly arrays and as-const tuples', async () => {
    expectTypeOf<RecordFillsParams['fills'][number]['price']>().toEqualTypeOf<Decimal>();
    expectTypeOf<RecordFillsParams['fills'][number]['position_id']>().toEqualTypeOf<import('precog-db').Id<'positions'> | null | undefined>();
    await paper.recordFills({ fills: [fill, { ...fill, quantity: 2 }] as const });
    // @ts-expect-error - price is `price!`: null is refused
    await paper.recordFills({ fills: [{ ...fill, price: null }] });
    // @ts-expect-error - quantity is `quantity!`: it cannot be left out
    await paper.recordFills({ fills: [{ market_id: 'MKT-X', side: 'buy', price: new Decimal('0.5'), fees: new Decimal(0), trade_source: 'manual', order_type: 'limit' }] });
    // @ts-expect-error - the scope binds execution_environment in every row
    await paper.recordFills({ fills: [{ ...fill, execution_environment: 'live' }] });
  });

  it('brands ids in picked fields with the scope\'s environment', async () => {
    const [position] = await live.listOpenPositions();
    // @ts-expect-error - a live position id in a paper scope's fill
    await paper.recordFills({ fills: [{ ...fill, position_id: position!.id }] });
    await live.recordFills({ fills: [{ ...fill, position_id: position!.id }] });
  });
});

describe('cardinality', () => {
  it('a lookup by key is Row | undefined, an INSERT ... VALUES RETURNING exactly one Row', async () => {
    const opened = await paper.openPosition({ market_id: 'MKT-X', side: 'YES', entry_price: new Decimal('0.4'), quantity: 1, fees: new Decimal(0) });
    expectTypeOf(opened.id).toEqualTypeOf<import('precog-db').PositionId<'paper'>>();
    const found = await paper.getPositionById({ id: opened.id });
    // @ts-expect-error - possibly undefined: check it first
    void found.status;
    if (found) expectTypeOf(found.status).toBeString();
    expectTypeOf(await paper.listOpenPositions()).toExtend<readonly unknown[]>();
  });
});
