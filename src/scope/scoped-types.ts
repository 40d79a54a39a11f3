/**
 * The types of a scope, derived from the generated queries: a new query in sql/ appears here
 * after `npm run codegen`, with no wrapper written by hand.
 *
 * Each query's class is codegen's (its `environment`, from what it reads and writes):
 * - `scoped` (binds :execution_environment on every read and write of a tagged relation): on a
 *   scope the parameter is gone (the scope binds it, and passing it is a type error), ids
 *   (`Id<'table'>` and `Key<'table'>` in generated/, from the catalog) are branded with the
 *   scope's environment in parameters and rows, and rows come back as `EnvironmentScoped<Row, Env>`.
 * - `cross` (marked `-- cross-environment:`) returns rows of several environments, each branded
 *   with its own: a union that narrows on `execution_environment`.
 * - `shared` reads or writes shared tables only and is passed through unchanged.
 */
import type { allQueries } from '../../generated/index.js';
import type { Query, Returned } from '../runtime/query.js';
import type { Decimal } from 'decimal.js';
import type { Backtest, EnvironmentScoped, ExecutionEnvironment, Live, Paper, RebrandIds } from '../environment/brand.js';
import type { Json } from '../runtime/codecs.js';

type Queries = typeof allQueries;

type ParamsOf<Q> = Q extends Query<infer P, any, any, any, any> ? P : never;
type ResultOf<Q> = Q extends Query<any, infer R, any, any, any> ? R : never;
type EnvironmentsOf<Q> = Q extends Query<any, any, infer E, any, any> ? E : never;
type ClassOf<Q> = Q extends Query<any, any, any, infer C, any> ? C : never;
type CardinalityOf<Q> = Q extends Query<any, any, any, any, infer C> ? C : never;

type IsScoped<Q> = [ClassOf<Q>] extends ['scoped'] ? true : false;
type IsCrossEnvironment<Q> = [ClassOf<Q>] extends ['cross'] ? true : false;

/**
 * A pick (`:book(...)`) or picks (`:books((...)...)`) on a scope: ids in its fields branded with
 * the scope's environment, and without the execution_environment the scope binds in every row.
 */
type ScopedPick<Row, Env extends ExecutionEnvironment> = RebrandIds<Omit<Row, 'execution_environment'>, Env> &
  ('execution_environment' extends keyof Row ? { execution_environment?: never } : unknown);
type WithoutEnvironment<V, Env extends ExecutionEnvironment> = [Json] extends [V]
  ? V
  : [V] extends [readonly (infer Row)[]]
    ? [Row] extends [Date | Decimal | Buffer | null] ? V : [Row] extends [object] ? readonly ScopedPick<Row, Env>[] : V
    : [V] extends [Date | Decimal | Buffer] ? V : [V] extends [object] ? ScopedPick<V, Env> : V;

/** Parameters of a scoped call: the environment is bound by the scope, and cannot be passed. */
type ScopedParams<Q, Env extends ExecutionEnvironment> = RebrandIds<
  { [K in keyof Omit<ParamsOf<Q>, 'execution_environment'>]: WithoutEnvironment<ParamsOf<Q>[K], Env> },
  Env
> & {
  execution_environment?: never;
};

type ParamArgs<P> = keyof P extends never ? [params?: Record<string, never>] : {} extends P ? [params?: P] : [params: P];

/**
 * EnvironmentScoped re-brands the row's ids (`Id<T>` from generated/) as ids of `Env`. Spelled out
 * here rather than behind an alias of the query, so that an error names the row and its environment
 * on its first line (`EnvironmentScoped<ListOpenPositionsResult, "paper">` is not assignable to
 * `Live<ListOpenPositionsResult>`). It stays `EnvironmentScoped<Row, Env>` for a generic `Env`.
 */
type ScopedRow<Q, Env extends ExecutionEnvironment> = EnvironmentScoped<ResultOf<Q>, Env>;

/** Each environment of a cross-environment query's rows, branded as that environment (`Paper<Row> | Backtest<Row>`). */
type CrossRow<Q, Env> = Named<ResultOf<Q>>[Env & ExecutionEnvironment];
type Named<Row> = { live: Live<Row>; paper: Paper<Row>; backtest: Backtest<Row> };

/** The row (`one`), the row or undefined (`maybe`), or the rows (`many`), as codegen decided (`returns`). */
type Rows<Q, Row> = ResultOf<Q> extends void ? Promise<void> : Promise<Returned<Row, CardinalityOf<Q>>>;

export type ScopedQuery<Q, Env extends ExecutionEnvironment> = (
  ...args: ParamArgs<ScopedParams<Q, Env>>
) => Rows<Q, EnvironmentScoped<ResultOf<Q>, Env>>;

export type SharedQuery<Q> = (...args: ParamArgs<ParamsOf<Q>>) => Rows<Q, ResultOf<Q>>;

export type CrossEnvironmentQuery<Q> = (...args: ParamArgs<ParamsOf<Q>>) => Rows<Q, CrossRow<Q, EnvironmentsOf<Q>>>;

/** The queries a scope of `Env` offers: environment-scoped ones bound to `Env`, and shared ones. */
export type ScopedQueries<Env extends ExecutionEnvironment> = {
  [N in keyof Queries as IsCrossEnvironment<Queries[N]> extends true ? never : N]: IsScoped<Queries[N]> extends true
    ? ScopedQuery<Queries[N], Env>
    : SharedQuery<Queries[N]>;
};

/** Queries over shared tables only (markets, game states, historical data). */
export type SharedQueries = {
  [N in keyof Queries as IsScoped<Queries[N]> extends true ? never : IsCrossEnvironment<Queries[N]> extends true ? never : N]: SharedQuery<
    Queries[N]
  >;
};

/** Cross-environment analytics: rows come back as a union of the environments they may hold. */
export type CrossEnvironmentQueries = {
  [N in keyof Queries as IsCrossEnvironment<Queries[N]> extends true ? N : never]: CrossEnvironmentQuery<Queries[N]>;
};
