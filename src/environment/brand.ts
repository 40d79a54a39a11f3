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

/** A row read or written through the scope of `Env`. */
export type EnvironmentScoped<Row, Env extends ExecutionEnvironment> = Row & {
  readonly execution_environment: Env;
  readonly [environmentBrand]: Env;
};

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

/** The id of one position version (positions.id) of environment `Env`. */
export type PositionId<Env extends ExecutionEnvironment = ExecutionEnvironment> = number & {
  readonly [idBrand]: readonly ['position', Env];
};
/** A position's business key ('POS-12') in environment `Env`. */
export type PositionKey<Env extends ExecutionEnvironment = ExecutionEnvironment> = string & {
  readonly [idBrand]: readonly ['position-key', Env];
};
/** The id of one trade (trades.id) of environment `Env`. */
export type TradeId<Env extends ExecutionEnvironment = ExecutionEnvironment> = number & {
  readonly [idBrand]: readonly ['trade', Env];
};

type UnionToIntersection<U> = (U extends unknown ? (arg: U) => void : never) extends (arg: infer I) => void ? I : never;
type IsUnion<T> = [T] extends [UnionToIntersection<T>] ? false : true;

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
