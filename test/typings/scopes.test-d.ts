/**
 * What `precogDb(...)` and `scope(...)` accept: generic code over one environment compiles, a
 * union, an environment without a connection and a backtest scope without its run do not, and
 * run ids come only from db.backtests. Each `@ts-expect-error` names the rule it breaks.
 */
import { describe, expectTypeOf, it } from 'vitest';
import {
  Decimal,
  precogDb,
  rowOf,
  type LoadRow,
  type ApiModeFor,
  type BacktestRunId,
  type EnvironmentScoped,
  type Live,
  type Paper,
  type Pool,
  type PrecogDb,
  type Scope,
} from 'precog-db';
import type { ListOpenPositionsResult } from 'precog-db/queries';

declare const pool: Pool;
declare const config: { environment: 'live' | 'paper'; kalshiMode: 'live' | 'demo' };
const db = precogDb(pool);

/** The natural generic factory: one environment, whichever, with its API. */
function scopeFor<Env extends 'live' | 'paper'>(environment: Env, api: ApiModeFor<Env>): Scope<Env> {
  return db.scope(environment, { api });
}

/** A helper written once for every environment's rows, given a scope of any one. */
async function openKeys<Env extends 'live' | 'paper' | 'backtest'>(scope: Scope<Env>) {
  const rows = await scope.listOpenPositions();
  return rows.map((row) => row.position_key);
}

describe('compiles', () => {
  it('a generic scope factory, and helpers over Scope<Env>', async () => {
    expectTypeOf(scopeFor('paper', 'demo')).toEqualTypeOf<Scope<'paper'>>();
    expectTypeOf(scopeFor('live', 'live').environment).toEqualTypeOf<'live'>();
    expectTypeOf(await openKeys(scopeFor('paper', 'demo'))).toEqualTypeOf<import('precog-db').PositionKey<'paper'>[]>();
  });

  it('a union narrowed before scope(...)', () => {
    if (config.environment === 'paper') expectTypeOf(db.scope(config.environment, { api: 'demo' })).toEqualTypeOf<Scope<'paper'>>();
  });

  it('the scopes and groups of the connections given', () => {
    const paperOnly = precogDb({ paper: pool });
    expectTypeOf(paperOnly.scope('paper', { api: 'demo' })).toEqualTypeOf<Scope<'paper'>>();
    void paperOnly.shared.getCurrentMarketByTicker;
    const analytics = precogDb({ analyst: pool, backtest: pool });
    void analytics.crossEnvironment.comparePaperAndLivePerformance;
    void analytics.backtests.list;
    const all: PrecogDb = precogDb({ live: pool, paper: pool, backtest: pool, analyst: pool, ingest: pool });
    void all.scope('live', { api: 'live' });
  });

  it('runs and their ids from db.backtests', async () => {
    const run = await db.backtests.create({ strategy_id: 7, period_start: new Date(0), period_end: new Date() });
    expectTypeOf(run.id).toEqualTypeOf<BacktestRunId>();
    const [listed] = await db.backtests.list();
    const found = await db.backtests.get('12'); // an id from outside the program is looked up first
    if (listed && found) {
      void db.backtests.delete(listed.id);
      void db.backtests.delete(found);
      void db.scope('backtest', { api: 'none', run: found.id });
    }
    expectTypeOf((await db.backtests.load(run, {})).run).toEqualTypeOf<BacktestRunId>();
  });

  it('a cross-environment row narrowed to its backtest side has its run; the paper side has none', async () => {
    const run = await db.backtests.create({ strategy_id: 7, period_start: new Date(0), period_end: new Date() });
    for (const row of await db.crossEnvironment.compareBacktestRunWithPaper({ run_id: run.id })) {
      if (row.execution_environment === 'backtest') expectTypeOf(row.backtest_run_id).toEqualTypeOf<bigint>();
      else expectTypeOf(row.backtest_run_id).toEqualTypeOf<null>();
    }
  });

  it('a settlement leads back to its position\'s history: position_key is the position\'s key', async () => {
    const paper = scopeFor('paper', 'demo');
    for (const settlement of await paper.listSettlements({ from: new Date(0), to: new Date() })) {
      await paper.listPositionHistory({ position_key: settlement.position_key });
    }
  });

  it('bulk-load rows typed as the run\'s inserts: backtest ids, references to rows of the load', async () => {
    const run = await db.backtests.create({ strategy_id: 7, period_start: new Date(0), period_end: new Date() });
    const [key] = await db.backtests.positionKeys(1);
    const inRun = await db.scope('backtest', { api: 'none', run }).openPosition({ market_id: 'MKT-X', side: 'YES', entry_price: new Decimal('0.4'), quantity: 1, fees: new Decimal(0) });
    const position: LoadRow<'positions'> = { position_key: key!, market_id: 'MKT-X', side: 'YES', entry_price: new Decimal('0.4'), quantity: 1 };
    const fill: LoadRow<'trades'> = { market_id: 'MKT-X', position_id: rowOf('positions', 0), side: 'buy', price: new Decimal('0.4'), quantity: 1, order_type: 'limit' };
    const later: LoadRow<'trades'> = { ...fill, position_id: inRun.id };
    await db.backtests.load(run, { positions: [position], trades: [fill, later] });
  });

  it('rows come as a readonly array, named by their environment', async () => {
    const rows = await scopeFor('paper', 'demo').listOpenPositions();
    expectTypeOf(rows).toEqualTypeOf<readonly EnvironmentScoped<ListOpenPositionsResult, 'paper'>[]>();
    expectTypeOf(rows[0]!).toExtend<Paper<ListOpenPositionsResult>>();
    const sorted = [...rows].sort((a, b) => a.id - b.id); // a copy to sort
    void sorted;
  });
});

describe('must not compile', () => {
  it('a union environment, at the environment argument', () => {
    // @ts-expect-error - a scope has exactly one execution environment: narrow it first
    void db.scope(config.environment, { api: config.kalshiMode });
    // @ts-expect-error - the generic factory called with a union: its API is the API of no one environment
    void scopeFor(config.environment, config.kalshiMode);
  });

  it('a scope or group whose connection was not given', () => {
    const paperOnly = precogDb({ paper: pool });
    // @ts-expect-error - no live connection was given to precogDb()
    void paperOnly.scope('live', { api: 'live' });
    // @ts-expect-error - cross-environment analytics need the analyst connection
    void paperOnly.crossEnvironment.comparePaperAndLivePerformance;
    // @ts-expect-error - db.backtests needs the backtest connection
    void paperOnly.backtests.list;
    // @ts-expect-error - an unknown connection name (a typo of paper)
    void precogDb({ papr: pool });
  });

  it('a backtest scope without its run, a live one with one, the wrong API', async () => {
    const run = await db.backtests.create({ strategy_id: 7, period_start: new Date(0), period_end: new Date() });
    // @ts-expect-error - a backtest scope is opened for one run
    void db.scope('backtest', { api: 'none' });
    // @ts-expect-error - only a backtest scope has a run
    void db.scope('live', { api: 'live', run });
    // @ts-expect-error - a paper scope trades through the demo API only
    void db.scope('paper', { api: 'live' });
  });

  it('a number, or another table\'s id, as a run', async () => {
    const strategyId = 7;
    // @ts-expect-error - a strategy id is not a run: run ids come from db.backtests.create/list/get
    void db.backtests.delete(strategyId);
    // @ts-expect-error - a bigint is not a run either
    void db.backtests.setStatus(12n, 'finished');
    // @ts-expect-error - nor a string, for a scope
    void db.scope('backtest', { api: 'none', run: '12' });
    // @ts-expect-error - nor for a bulk load
    void db.backtests.load(12, {});
  });

  it('a paper row where a live one is required, even from a generic factory', async () => {
    const [row] = await scopeFor('paper', 'demo').listOpenPositions();
    const sell = (position: Live<ListOpenPositionsResult>) => position;
    // @ts-expect-error - a paper row where a live one is required
    sell(row!);
  });

  it('a paper settlement\'s key in the live scope', async () => {
    const [settlement] = await scopeFor('paper', 'demo').listSettlements({ from: new Date(0), to: new Date() });
    // @ts-expect-error - a paper position key in the live scope
    await scopeFor('live', 'live').listPositionHistory({ position_key: settlement!.position_key });
  });

  it('live rows, live ids, a float for money or a reference to the wrong table in a bulk load', async () => {
    const run = await db.backtests.create({ strategy_id: 7, period_start: new Date(0), period_end: new Date() });
    const live = await scopeFor('live', 'live').openPosition({ market_id: 'MKT-X', side: 'YES', entry_price: new Decimal('0.4'), quantity: 1, fees: new Decimal(0) });
    const fill: LoadRow<'trades'> = { market_id: 'MKT-X', side: 'buy', price: new Decimal('0.4'), quantity: 1, order_type: 'limit' };
    // @ts-expect-error - a live position's id in a backtest run's rows
    void db.backtests.load(run, { trades: [{ ...fill, position_id: live.id }] });
    // @ts-expect-error - a live position's key as a run's position key
    void db.backtests.load(run, { positions: [{ position_key: live.position_key, market_id: 'MKT-X', side: 'YES', entry_price: new Decimal('0.4'), quantity: 1 }] });
    // @ts-expect-error - a reference to a trade where a position is meant
    void db.backtests.load(run, { trades: [{ ...fill, position_id: rowOf('trades', 0) }] });
    // @ts-expect-error - money is Decimal, never a float
    void db.backtests.load(run, { trades: [{ ...fill, price: 0.4 }] });
    // @ts-expect-error - the run binds the environment: not a column of the loaded rows
    void db.backtests.load(run, { trades: [{ ...fill, execution_environment: 'backtest' }] });
    // @ts-expect-error - not a tagged table
    void db.backtests.load(run, { markets: [] });
  });

  it('a run id read from a row not narrowed to its environment', async () => {
    const [row] = await db.crossEnvironment.compareBacktestRunWithPaper({ run_id: 1n });
    // @ts-expect-error - possibly null: the paper side has no run
    const run: bigint = row!.backtest_run_id;
    void run;
  });

  it('pushing into, or aliasing as mutable, the rows a scope returned', async () => {
    const rows = await scopeFor('live', 'live').listOpenPositions();
    const [paperRow] = await scopeFor('paper', 'demo').listOpenPositions();
    // @ts-expect-error - result arrays are readonly: an alias of any environment could be pushed a paper row
    rows.push(paperRow!);
    // @ts-expect-error - nor can they be aliased as a mutable array of any environment
    const anyEnvironment: (Live<ListOpenPositionsResult> | Paper<ListOpenPositionsResult>)[] = rows;
    void anyEnvironment;
  });
});
