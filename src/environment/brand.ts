/**
 * Rows and identifiers branded with the execution environment they came from.
 *
 * The brand is a property keyed by a symbol that this module never exports, so no code outside
 * it can write one: an object literal is never a `Live<Trade>`. Branded values come only from a
 * scope (scope.ts), which checks every row it returns at run time as well.
 */
import type { ExecutionEnvironment } from '../../generated/enums.js';

export type { ExecutionEnvironment };
export type NonLiveEnvironment = Exclude<ExecutionEnvironment, 'live'>;

declare const environmentBrand: unique symbol;
declare const idBrand: unique symbol;

/**
 * The id of a row of tagged table `Table` in environment `Env` (any environment by default: what
 * generated/ declares; a scope narrows it to its own). `Base` is the column's TypeScript type
 * (int4 is `number`, int8 `bigint`, see src/runtime/codecs.ts). The brand records all three, so
 * a trade id is not a position id, a paper id is not a live one, and a bare number is neither.
 */
export type Id<Table extends string, Env extends ExecutionEnvironment = ExecutionEnvironment, Base = number> = Base & {
  readonly [idBrand]: readonly ['id', Table, Env, Base];
};
/** The business key of tagged table `Table` ('POS-12' for positions) in environment `Env`. */
export type Key<Table extends string, Env extends ExecutionEnvironment = ExecutionEnvironment, Base = string> = Base & {
  readonly [idBrand]: readonly ['key', Table, Env, Base];
};

/** The id of one position version (positions.id) of environment `Env`. */
export type PositionId<Env extends ExecutionEnvironment = ExecutionEnvironment> = Id<'positions', Env>;
/** A position's business key ('POS-12') in environment `Env`. */
export type PositionKey<Env extends ExecutionEnvironment = ExecutionEnvironment> = Key<'positions', Env>;
/** The id of one trade (trades.id) of environment `Env`. */
export type TradeId<Env extends ExecutionEnvironment = ExecutionEnvironment> = Id<'trades', Env>;

/**
 * `Value` with every id or key in it (a field's type: nullable, or an array of ids) re-branded
 * as one of `Env`. Arrays are entered only when they hold ids, so recursive types (Json) are
 * left alone.
 */
export type RebrandValue<Value, Env extends ExecutionEnvironment> = Value extends null | undefined
  ? Value
  : Value extends { readonly [idBrand]: readonly [infer Kind, infer Table extends string, ExecutionEnvironment, infer Base] }
    ? Kind extends 'id'
      ? Id<Table, Env, Base>
      : Key<Table, Env, Base>
    : Value extends readonly (infer Element)[]
      ? [Extract<Element, { readonly [idBrand]: unknown }>] extends [never]
        ? Value
        : Value extends unknown[]
          ? RebrandValue<Element, Env>[]
          : readonly RebrandValue<Element, Env>[]
      : Value;

/** Every id and key field of `Row` (a result row or a parameter object) re-branded as one of `Env`. */
export type RebrandIds<Row, Env extends ExecutionEnvironment> = { [K in keyof Row]: RebrandValue<Row[K], Env> };

/**
 * A row read or written through the scope of `Env`: tagged with it, and its ids (`Id<T>`,
 * `Key<T>`) branded with it, so a row of another environment, or one with another
 * environment's id swapped in, is not one of these. The environment comes first, so an error
 * says `"paper"` is not `"live"` before it says which id differs.
 */
export type EnvironmentScoped<Row, Env extends ExecutionEnvironment> = {
  readonly execution_environment: Env;
  readonly [environmentBrand]: Env;
} & RebrandIds<Row, Env> &
  RunOf<Row, Env>;

/**
 * A row's `backtest_run_id`, by its environment: a backtest row has its run, a live or paper row
 * has none (the database's `<t>_backtest_run_only_in_backtest`, and the scope checks every row it
 * hands out). So a cross-environment row narrowed to its backtest side has a run id that is not null.
 */
type RunOf<Row, Env extends ExecutionEnvironment> = 'backtest_run_id' extends keyof Row
  ? { readonly backtest_run_id: [Env] extends ['backtest'] ? NonNullable<Row['backtest_run_id' & keyof Row]> : [Env] extends ['live' | 'paper'] ? null : unknown }
  : unknown;

/** Real money: from the live scope only. */
export type Live<Row> = EnvironmentScoped<Row, 'live'>;
/** Kalshi's demo API: from the paper scope only. */
export type Paper<Row> = EnvironmentScoped<Row, 'paper'>;
/** Simulated over historical data: from the backtest scope only. */
export type Backtest<Row> = EnvironmentScoped<Row, 'backtest'>;
/** Paper or backtest: what model training may read. Never live. */
export type NonLive<Row> = Paper<Row> | Backtest<Row>;
/** A row of any one environment (cross-environment analytics); narrow on `execution_environment`. */
export type AnyEnvironment<Row> = Live<Row> | Paper<Row> | Backtest<Row>;

type UnionToIntersection<U> = (U extends unknown ? (arg: U) => void : never) extends (arg: infer I) => void ? I : never;
export type IsUnion<T> = [T] extends [UnionToIntersection<T>] ? false : true;

/**
 * For helpers over rows of one environment, whichever it is. TypeScript infers `Env` as a union
 * when given a live and a paper row; spread this as the last parameter to refuse that:
 *   function totalPnl<Env extends ExecutionEnvironment>(rows: EnvironmentScoped<Trade, Env>[], ...one: OneEnvironmentOnly<Env>)
 */
export type OneEnvironmentOnly<Env extends ExecutionEnvironment> =
  IsUnion<Env> extends true ? [error: 'these rows come from more than one execution environment'] : [];

export function isLive<Row extends { execution_environment: ExecutionEnvironment }>(row: AnyEnvironment<Row>): row is Live<Row> {
  return row.execution_environment === 'live';
}

export function isNonLive<Row extends { execution_environment: ExecutionEnvironment }>(
  row: AnyEnvironment<Row>,
): row is NonLive<Row> {
  return row.execution_environment !== 'live';
}
