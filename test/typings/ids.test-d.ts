/**
 * Ids and business keys are branded from the schema (generated/ declares `Id<'positions'>`,
 * `Key<'positions'>`), and a scope brands them with its environment. Each `@ts-expect-error`
 * line states the rule it breaks. Imported by package name, as an application does.
 */
import { describe, expectTypeOf, it } from 'vitest';
import {
  Decimal,
  precogDb,
  resolveTradingConfiguration,
  type ApiModeFor,
  type ExecutionEnvironment,
  type Id,
  type Key,
  type Live,
  type Paper,
  type PositionId,
  type PositionKey,
  type Scope,
  type TradeId,
} from 'precog-db';
import * as queries from 'precog-db/queries';
import type { GetPositionByIdResult, GetTradeByIdResult, RecordTradeParams, RecordTradeResult, RecordTradesParams } from 'precog-db/queries';

declare const live: Scope<'live'>;
declare const paper: Scope<'paper'>;
declare const livePosition: Live<GetPositionByIdResult>;
declare const paperPosition: Paper<GetPositionByIdResult>;
declare const liveTrade: Live<RecordTradeResult>;
declare const paperTrade: Paper<RecordTradeResult>;
declare const mine: Live<MyTrade>;
declare const paperBulk: Parameters<typeof paper.recordTrades>[0];

/** A row typed by hand, with the generated brands: Live<> brands its ids with 'live'. */
interface MyTrade {
  id: Id<'trades'>;
  position_id: Id<'positions'> | null;
  order_id: string | null;
  execution_environment: ExecutionEnvironment;
}

const fill = {
  market_id: 'MKT-X',
  side: 'buy',
  price: new Decimal('0.5'),
  quantity: 1,
  fees: new Decimal('0'),
  trade_source: 'automated',
  order_type: 'limit',
} as const;

describe('generated/ declares ids from the schema', () => {
  it('brands id columns, foreign keys to them and business keys, for any environment', () => {
    expectTypeOf<GetPositionByIdResult['id']>().toEqualTypeOf<Id<'positions'>>();
    expectTypeOf<GetPositionByIdResult['position_key']>().toEqualTypeOf<Key<'positions'>>();
    expectTypeOf<GetTradeByIdResult['id']>().toEqualTypeOf<Id<'trades'>>();
    // trades.position_id: a foreign key (declared on the partitions) to positions' id.
    expectTypeOf<GetTradeByIdResult['position_id']>().toEqualTypeOf<Id<'positions'> | null>();
    expectTypeOf<RecordTradeParams['position_id']>().toEqualTypeOf<Id<'positions'> | null | undefined>();
    expectTypeOf<RecordTradesParams['position_ids']>().toEqualTypeOf<readonly (Id<'positions'> | null)[]>();
    // Kalshi's order id is text and no foreign key: sharing a name with an id does not brand it.
    expectTypeOf<GetTradeByIdResult['order_id']>().toEqualTypeOf<string | null>();
    // The old names are aliases of the generic brands.
    expectTypeOf<PositionId<'paper'>>().toEqualTypeOf<Id<'positions', 'paper'>>();
    expectTypeOf<TradeId<'live'>>().toEqualTypeOf<Id<'trades', 'live'>>();
    expectTypeOf<PositionKey<'backtest'>>().toEqualTypeOf<Key<'positions', 'backtest'>>();
  });

  it('brands what a scope returns with its environment, arrays too', async () => {
    expectTypeOf(paperTrade.id).toEqualTypeOf<Id<'trades', 'paper'>>();
    expectTypeOf(paperTrade.position_id).toEqualTypeOf<Id<'positions', 'paper'> | null>();
    expectTypeOf(livePosition.position_key).toEqualTypeOf<Key<'positions', 'live'>>();
    const [inserted] = await paper.recordTrades(paperBulk);
    expectTypeOf(inserted!.id).toEqualTypeOf<Id<'trades', 'paper'>>();
    expectTypeOf(paperBulk.position_ids).toEqualTypeOf<readonly (Id<'positions', 'paper'> | null)[]>();
  });

  it('brands cross-environment rows each with its own environment, through views too', async () => {
    const [row] = await precogDb(null as never).crossEnvironment.listTrainingDataTrades({ from: new Date(), to: new Date() });
    if (row!.execution_environment === 'paper') {
      expectTypeOf(row!.position_id).toEqualTypeOf<Id<'positions', 'paper'> | null>();
      if (row!.position_id) void paper.getPositionById({ id: row!.position_id });
      // @ts-expect-error - a paper training row's position id in a live-scope call
      if (row!.position_id) void live.getPositionById({ id: row!.position_id });
    } else {
      expectTypeOf(row!.id).toEqualTypeOf<Id<'trades', 'backtest'>>();
    }
  });

  it('brands the ids of a hand-typed Live<Row>', () => {
    expectTypeOf<Live<MyTrade>['id']>().toEqualTypeOf<Id<'trades', 'live'>>();
    expectTypeOf<Live<MyTrade>['position_id']>().toEqualTypeOf<Id<'positions', 'live'> | null>();
    expectTypeOf<Paper<MyTrade>['order_id']>().toEqualTypeOf<string | null>();
  });
});

describe('must not compile', () => {
  it('refuses ids of another environment, of another table, and bare numbers', () => {
    // @ts-expect-error - a paper position's id in a live-scope call
    void live.getPositionById({ id: paperPosition.id });
    // @ts-expect-error - a paper position's id referenced by a live trade
    void live.recordTrade({ ...fill, position_id: paperPosition.id });
    // @ts-expect-error - a paper trade's id in a live-scope call
    void live.getTradeById({ id: paperTrade.id });
    // @ts-expect-error - a paper position's business key in a live-scope call
    void live.getPositionByKey({ position_key: paperPosition.position_key });
    // @ts-expect-error - a paper bulk write (paper position ids) sent through the live scope
    void live.recordTrades(paperBulk);
    // @ts-expect-error - a trade id where a position id is required (same environment)
    void live.getPositionById({ id: liveTrade.id });
    // @ts-expect-error - a bare number is not a position id of any environment
    void live.getPositionById({ id: 42 });
    // @ts-expect-error - a bare number is not a trade id either
    void paper.getTradeById({ id: 7 });
    // @ts-expect-error - a bare string is not a position key
    void paper.getPositionByKey({ position_key: 'POS-1' });
    // @ts-expect-error - a bare number is not an id for the unscoped generated types either
    const raw: GetPositionByIdResult['id'] = 42;
    void raw;
  });

  it('refuses rows with another environment swapped in', () => {
    // @ts-expect-error - a paper position's id swapped into a live row
    const swapped: Live<GetPositionByIdResult> = { ...livePosition, id: paperPosition.id };
    void swapped;
    // @ts-expect-error - a paper position id swapped into a live trade row
    const relinked: Live<RecordTradeResult> = { ...liveTrade, position_id: paperPosition.id };
    void relinked;
    // @ts-expect-error - a live row spread over a paper one is not a paper row
    const overwritten: Paper<GetPositionByIdResult> = { ...paperPosition, ...livePosition };
    void overwritten;
    const { id, position_key } = livePosition;
    // @ts-expect-error - a live row's ids spread over a paper one
    const rekeyed: Paper<GetPositionByIdResult> = { ...paperPosition, ...{ id, position_key } };
    void rekeyed;
    // @ts-expect-error - a hand-typed Live<Row> refuses a paper id too
    mine.position_id = paperTrade.position_id;
  });

  it('refuses a scope of a union environment, with a message', () => {
    const config = resolveTradingConfiguration({ PRECOG_ENV: 'development', KALSHI_MODE: 'demo' });
    // @ts-expect-error - a scope needs exactly one environment: narrow 'live' | 'paper' from configuration first
    precogDb(null as never).scope(config.environment, { api: config.kalshiMode });
    const environment = 'paper' as ExecutionEnvironment;
    // @ts-expect-error - a scope of any environment at all is refused the same way
    precogDb(null as never).scope(environment, { api: 'none' });
    if (config.environment === 'paper') precogDb(null as never).scope(config.environment, { api: config.kalshiMode });
  });

  it('gives a union environment no API: ApiModeFor is not distributive', () => {
    // @ts-expect-error - 'demo' is not the API of 'live' | 'paper' (a distributive ApiModeFor would allow it)
    const api: ApiModeFor<'live' | 'paper'> = 'demo';
    void api;
    expectTypeOf<ApiModeFor<'live' | 'paper'>>().toEqualTypeOf<never>();
    expectTypeOf<ApiModeFor<'paper'>>().toEqualTypeOf<'demo'>();
    expectTypeOf<ApiModeFor<'backtest'>>().toEqualTypeOf<'none'>();
  });

  it('offers no runnable query in precog-db/queries, only types and enum values', () => {
    // @ts-expect-error - recordTrade is exported as a type only: run queries through a scope
    void queries.recordTrade.run;
    // @ts-expect-error - nor the list of every query the scopes are built from
    void queries.allQueries;
    expectTypeOf(queries.ExecutionEnvironmentValues).toEqualTypeOf<readonly ['live', 'paper', 'backtest']>();
  });
});

describe('array parameters', () => {
  it('accept readonly arrays and as-const tuples, and refuse a non-array', () => {
    const ids = [1, 2] as const;
    expectTypeOf<readonly (number | null)[]>().toMatchTypeOf<RecordTradesParams['quantities']>();
    expectTypeOf<typeof ids>().toMatchTypeOf<RecordTradesParams['quantities']>();
    // @ts-expect-error - a number is not an array of them
    expectTypeOf<number>().toMatchTypeOf<RecordTradesParams['quantities']>();
  });
});
