/**
 * The compile-time promise: live and non-live rows do not mix. Each `@ts-expect-error` line
 * states the rule it breaks; if a type is loosened so the line compiles, this suite fails.
 * Everything is imported by package name, as an application does.
 */
import { describe, expectTypeOf, it } from 'vitest';
import {
  Decimal,
  isNonLive,
  precogDb,
  type AnyEnvironment,
  type EnvironmentScoped,
  type ExecutionEnvironment,
  type OneEnvironmentOnly,
  type Backtest,
  type Live,
  type NonLive,
  type Paper,
  type PositionId,
  type Scope,
} from 'precog-db';
import type { GetPositionByIdResult, ListOpenPositionsResult, RecordTradeResult } from 'precog-db/queries';

declare const live: Scope<'live'>;
declare const paper: Scope<'paper'>;
declare const livePosition: Live<GetPositionByIdResult>;
declare const paperPosition: Paper<GetPositionByIdResult>;
declare const backtestTrade: Backtest<RecordTradeResult>;
declare const paperTrade: Paper<RecordTradeResult>;
declare const liveTrade: Live<RecordTradeResult>;
declare const mixed: AnyEnvironment<RecordTradeResult>;

/** Code that sends real orders: live positions only. */
declare function sellLive(position: Live<ListOpenPositionsResult | GetPositionByIdResult>): void;
/** Model training: never live rows. */
declare function train(trades: NonLive<RecordTradeResult>[]): void;
/** A helper over rows of one environment, whichever it is. */
declare function sameEnvironment<Env extends ExecutionEnvironment>(
  rows: EnvironmentScoped<GetPositionByIdResult, Env>[],
  ...oneEnvironment: OneEnvironmentOnly<Env>
): void;

const fill = {
  market_id: 'MKT-X',
  side: 'buy',
  price: new Decimal('0.5'),
  quantity: 1,
  fees: new Decimal('0'),
  trade_source: 'automated',
  order_type: 'limit',
} as const;

describe('must not compile', () => {
  it('refuses to mix environments', () => {
    // @ts-expect-error - a paper row where a live one is required
    sellLive(paperPosition);

    // @ts-expect-error - a live row where a non-live one is required
    train([backtestTrade, liveTrade]);

    // @ts-expect-error - a live-scope write that references a paper position's id
    void live.recordTrade({ ...fill, position_id: paperPosition.id });

    const liveRows: Live<GetPositionByIdResult>[] = [];
    // @ts-expect-error - a paper row pushed into a Live<...>[]
    liveRows.push(paperPosition);

    // @ts-expect-error - a helper over same-environment rows given a live and a paper row
    sameEnvironment([livePosition, paperPosition]);

    // @ts-expect-error - a branded row built from an object literal
    const forged: Live<RecordTradeResult> = { ...paperTrade, execution_environment: 'live' };
    void forged;

    // @ts-expect-error - passing the environment to a scoped function (the scope binds it)
    void paper.recordTrade({ ...fill, execution_environment: 'live' });

    // @ts-expect-error - an un-narrowed union row given to a live-only function
    sellLive(mixed);

    // @ts-expect-error - a raw number is not a position id of any environment
    void live.getPositionById({ id: 42 });

    // @ts-expect-error - a live scope cannot trade through the demo API
    precogDb(null as never).scope('live', { api: 'demo' });

    // @ts-expect-error - a backtest scope uses no API at all
    precogDb(null as never).scope('backtest', { api: 'live', run: 1 });

    // @ts-expect-error - a backtest scope is opened for a run (its rows belong to one)
    precogDb(null as never).scope('backtest', { api: 'none' });

    // @ts-expect-error - only a backtest scope has a run
    precogDb(null as never).scope('paper', { api: 'demo', run: 1 });

    // @ts-expect-error - an environment name with a typo
    precogDb(null as never).scope('Live', { api: 'live' });
  });
});

describe('compiles', () => {
  it('opens a backtest scope for a run: the run, or its id', async () => {
    const db = precogDb(null as never);
    const run = await db.backtests.create({ strategy_id: 1, period_start: new Date(0), period_end: new Date() });
    expectTypeOf(db.scope('backtest', { api: 'none', run }).environment).toEqualTypeOf<'backtest'>();
    expectTypeOf(db.scope('backtest', { api: 'none', run: run.id }).environment).toEqualTypeOf<'backtest'>();
  });

  it('narrows a union row on execution_environment', () => {
    if (mixed.execution_environment === 'live') {
      expectTypeOf(mixed).toEqualTypeOf<Live<RecordTradeResult>>();
    } else {
      expectTypeOf(mixed).toEqualTypeOf<Paper<RecordTradeResult> | Backtest<RecordTradeResult>>();
      train([mixed]);
    }
  });

  it('accepts paper and backtest rows where NonLive is required, and filters unions', () => {
    train([paperTrade, backtestTrade]);
    const rows: AnyEnvironment<RecordTradeResult>[] = [];
    train(rows.filter(isNonLive));
  });

  it('returns rows and ids branded with the scope environment', async () => {
    const opened = await paper.openPosition({
      market_id: 'MKT-X',
      side: 'YES',
      entry_price: new Decimal('0.4'),
      quantity: 2,
      fees: new Decimal('0'),
    });
    expectTypeOf(opened!.execution_environment).toEqualTypeOf<'paper'>();
    expectTypeOf(opened!.id).toEqualTypeOf<PositionId<'paper'>>();
    await paper.recordTrade({ ...fill, position_id: opened!.id });
    const liveOpened = await live.openPosition({ market_id: 'MKT-X', side: 'NO', entry_price: new Decimal('0.6'), quantity: 1, fees: new Decimal('0') });
    const position = await live.getPositionById({ id: liveOpened!.id });
    sellLive(position!);
    sameEnvironment([livePosition, livePosition]);
    sameEnvironment([paperPosition]);
  });

  it('offers shared queries unbranded, on the scope and on precogDb().shared', async () => {
    const db = precogDb(null as never);
    const market = await db.shared.getCurrentMarketByTicker({ ticker: 'X' });
    expectTypeOf(market!.yes_price).toEqualTypeOf<Decimal>();
    await paper.getCurrentMarketByTicker({ ticker: 'X' });
  });
});
