/** precog-db's public API: what `import ... from 'precog-db'` gives an application. */
export { precogDb, type PrecogDb, type PrecogDbOptions, type Pool, type Scope, type ScopeOptions, type TransactionOptions } from './scope/precog-db.js';
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
export { ConfigurationError, EnvironmentMismatchError } from './scope/errors.js';
export { InvalidValueError } from './runtime/errors.js';
export {
  CannotConnectError,
  ConnectionLostError,
  ConstraintViolationError,
  DatabaseError,
  EnvironmentRuleError,
  RetryableConflictError,
} from './runtime/database-errors.js';
export type { Json } from './runtime/codecs.js';
export type { Queryable } from './runtime/query.js';
export { Decimal } from 'decimal.js';
