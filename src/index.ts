/** precog-db's public API: what `import ... from 'precog-db'` gives an application. */
export { precogDb, type ConnectionRetryPolicy, type EnvironmentConnections, type PrecogDb, type PrecogDbOptions, type Pool, type Scope, type ScopeOptions, type TransactionOptions } from './scope/precog-db.js';
export type {
  AnyEnvironment,
  Backtest,
  EnvironmentScoped,
  ExecutionEnvironment,
  Id,
  Key,
  Live,
  NonLive,
  NonLiveEnvironment,
  OneEnvironmentOnly,
  Paper,
  PositionId,
  PositionKey,
  TradeId,
} from './environment/brand.js';
export { isLive, isNonLive } from './environment/brand.js';
export type { BacktestRun, BacktestRunId, BacktestRunRef, BacktestRuns, BacktestRunStatus, NewBacktestRun } from './backtest/runs.js';
export { rowOf, type LoadOptions, type LoadProgress, type LoadResult, type LoadRow, type RowReference, type RunRows } from './backtest/load.js';
export {
  assertApiMatches,
  resolveTradingConfiguration,
  tradingConfigurationFromEnv,
  type FromEnvOptions,
  type ApiMode,
  type ApiModeFor,
  type ConfigurationInput,
  type KalshiMode,
  type PrecogEnv,
  type TradingConfiguration,
} from './scope/api-mode.js';
export { EnvironmentMismatchError } from './scope/errors.js';
export { ConfigurationError, InvalidValueError } from './runtime/errors.js';
export {
  ConnectionError,
  ConnectionFailedError,
  ConnectionLostError,
  ConstraintViolationError,
  DatabaseError,
  EnvironmentRuleError,
  OutcomeUnknownError,
  QueryCancelledError,
  RetryableConflictError,
  StatementTimeoutError,
  type ConnectFailureReason,
  type ConnectionTarget,
} from './runtime/database-errors.js';
export type { Json } from './runtime/codecs.js';
export type { Queryable } from './runtime/query.js';
export { CardinalityError } from './runtime/query.js';
export { Decimal } from 'decimal.js';
