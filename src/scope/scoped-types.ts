/**
 * The types of a scope, derived from the generated queries: a new query in sql/ appears here
 * after `npm run codegen`, with no wrapper written by hand.
 *
 * Each query's class is codegen's (its `environment`, from what it reads and writes):
 * - `scoped` (binds :execution_environment on every read and write of a tagged relation): on a
 *   scope the parameter is gone (the scope binds it, and passing it is a type error), ids are
 *   branded with the scope's environment, and rows come back as `EnvironmentScoped<Row, Env>`.
 * - `cross` (marked `-- cross-environment:`) returns rows of several environments, each branded
 *   with its own: a union that narrows on `execution_environment`.
 * - `shared` reads or writes shared tables only and is passed through unchanged.
 */
import type { allQueries } from '../../generated/index.js';
import type { Query } from '../runtime/query.js';
import type { EnvironmentScoped, ExecutionEnvironment, PositionId, PositionKey, TradeId } from '../environment/brand.js';

type Queries = typeof allQueries;

type ParamsOf<Q> = Q extends Query<infer P, any, any, any, any> ? P : never;
type ResultOf<Q> = Q extends Query<any, infer R, any, any, any> ? R : never;
type IdKindOf<Q> = Q extends Query<any, any, infer K, any, any> ? K : never;
type EnvironmentsOf<Q> = Q extends Query<any, any, any, infer E, any> ? E : never;
type ClassOf<Q> = Q extends Query<any, any, any, any, infer C> ? C : never;

type IsScoped<Q> = [ClassOf<Q>] extends ['scoped'] ? true : false;
type IsCrossEnvironment<Q> = [ClassOf<Q>] extends ['cross'] ? true : false;

/** Replaces the non-null part of `T` with the brand `B` (arrays of ids become arrays of brands). */
type Rebrand<T, B> = T extends null | undefined | void ? T : T extends readonly (infer E)[] ? Rebrand<E, B>[] : B;

type BrandedId<Name, Env extends ExecutionEnvironment, IdKind> = Name extends 'position_id' | 'position_ids'
  ? PositionId<Env>
  : Name extends 'position_key' | 'position_keys'
    ? PositionKey<Env>
    : Name extends 'trade_id' | 'trade_ids'
      ? TradeId<Env>
      : Name extends 'id' | 'ids'
        ? IdKind extends 'position'
          ? PositionId<Env>
          : IdKind extends 'trade'
            ? TradeId<Env>
            : never
        : never;

/** Brands every identifier field of an environment-tagged row or parameter object. */
export type BrandIds<Row, Env extends ExecutionEnvironment, IdKind> = {
  [K in keyof Row]: [BrandedId<K, Env, IdKind>] extends [never] ? Row[K] : Rebrand<Row[K], BrandedId<K, Env, IdKind>>;
};

/** Parameters of a scoped call: the environment is bound by the scope, and cannot be passed. */
type ScopedParams<Q, Env extends ExecutionEnvironment> = BrandIds<Omit<ParamsOf<Q>, 'execution_environment'>, Env, IdKindOf<Q>> & {
  execution_environment?: never;
};

type ParamArgs<P> = keyof P extends never ? [params?: Record<string, never>] : {} extends P ? [params?: P] : [params: P];

type ScopedRow<Q, Env extends ExecutionEnvironment> = EnvironmentScoped<BrandIds<ResultOf<Q>, Env, IdKindOf<Q>>, Env>;

/** Each environment of a cross-environment query's rows, branded as that environment. */
type CrossRow<Q, Env> = Env extends ExecutionEnvironment ? ScopedRow<Q, Env> : never;

type Rows<Q, Row> = ResultOf<Q> extends void ? Promise<void> : Promise<Row[]>;

export type ScopedQuery<Q, Env extends ExecutionEnvironment> = (
  ...args: ParamArgs<ScopedParams<Q, Env>>
) => Rows<Q, ScopedRow<Q, Env>>;

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
