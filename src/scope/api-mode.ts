/**
 * ADR-105 × ADR-107: the configuration decides the execution environment, and the Kalshi API a
 * scope trades through must agree with it. `live` rows come only from the live API, `paper` rows
 * only from the demo API, and `backtest` uses no API and is only ever chosen explicitly.
 */
import { ExecutionEnvironmentValues } from '../../generated/enums.js';
import type { ExecutionEnvironment } from '../environment/brand.js';
import { ConfigurationError } from '../runtime/errors.js';

export const PRECOG_ENVS = ['development', 'test', 'staging', 'production'] as const;
export const KALSHI_MODES = ['demo', 'live'] as const;
export type PrecogEnv = (typeof PRECOG_ENVS)[number];
export type KalshiMode = (typeof KALSHI_MODES)[number];
/** The API a scope trades through; backtests use none. */
export type ApiMode = KalshiMode | 'none';

/**
 * The only API each environment may trade through. Deliberately not distributive: for a union
 * ('live' | 'paper', as read from configuration) it is never, where a distributive version
 * would be 'live' | 'demo' and let a live scope through the demo API.
 */
export type ApiModeFor<Env extends ExecutionEnvironment> = [Env] extends [never]
  ? never
  : [Env] extends ['live']
    ? 'live'
    : [Env] extends ['paper']
      ? 'demo'
      : [Env] extends ['backtest']
        ? 'none'
        : never;
const API_FOR: { [Env in ExecutionEnvironment]: ApiModeFor<Env> } = { live: 'live', paper: 'demo', backtest: 'none' };

/** The ADR-105 safety matrix: PRECOG_ENV × KALSHI_MODE. */
const MATRIX: Record<PrecogEnv, Record<KalshiMode, 'allowed' | 'warning' | 'blocked'>> = {
  development: { demo: 'allowed', live: 'warning' },
  test: { demo: 'allowed', live: 'blocked' },
  staging: { demo: 'allowed', live: 'warning' },
  production: { demo: 'blocked', live: 'allowed' },
};

/** Where to trade; narrowing `environment` narrows `kalshiMode` to the API a scope of it takes. */
export type TradingConfiguration = {
  precogEnv: PrecogEnv;
  /** Set when the combination needed (and got) an explicit confirmation. */
  confirmed: boolean;
} & ({ environment: 'live'; kalshiMode: 'live' } | { environment: 'paper'; kalshiMode: 'demo' });

export interface ConfigurationInput {
  PRECOG_ENV?: string | undefined;
  KALSHI_MODE?: string | undefined;
  /** The explicit confirmation a warning combination needs (e.g. from PRECOG_CONFIRM_LIVE=yes). */
  confirmLive?: boolean;
}

/**
 * Translates PRECOG_ENV and KALSHI_MODE (defaults: development, demo) into the environment to
 * trade in. Never returns 'backtest': a backtest is chosen explicitly with `scope('backtest', ...)`.
 * Throws ConfigurationError listing every problem at once.
 */
export function resolveTradingConfiguration(input: ConfigurationInput): TradingConfiguration {
  const problems: string[] = [];
  const precogEnv = oneOf('PRECOG_ENV', input.PRECOG_ENV ?? 'development', PRECOG_ENVS, problems);
  const kalshiMode = oneOf('KALSHI_MODE', input.KALSHI_MODE ?? 'demo', KALSHI_MODES, problems);
  if (!precogEnv || !kalshiMode) throw new ConfigurationError(problems);

  const verdict = MATRIX[precogEnv][kalshiMode];
  if (verdict === 'blocked') {
    throw new ConfigurationError([
      `PRECOG_ENV=${precogEnv} with KALSHI_MODE=${kalshiMode} is blocked (ADR-105): ` +
        (precogEnv === 'production' ? 'production trades only through the live API.' : 'tests never reach the live API.'),
    ]);
  }
  if (verdict === 'warning' && !input.confirmLive) {
    throw new ConfigurationError([
      `PRECOG_ENV=${precogEnv} with KALSHI_MODE=live trades real money outside production; ` +
        'it needs an explicit confirmation (PRECOG_CONFIRM_LIVE=yes).',
    ]);
  }
  const confirmed = verdict === 'warning';
  return kalshiMode === 'live'
    ? { precogEnv, confirmed, environment: 'live', kalshiMode }
    : { precogEnv, confirmed, environment: 'paper', kalshiMode };
}

/** ADR-107's fourth guardrail: refuses a scope whose API does not match its environment. */
export function assertApiMatches(environment: string, api: unknown): asserts environment is ExecutionEnvironment {
  if (!(ExecutionEnvironmentValues as readonly string[]).includes(environment)) {
    throw new ConfigurationError([
      `execution environment ${JSON.stringify(environment)} is unknown; use one of ${ExecutionEnvironmentValues.join(', ')}.`,
    ]);
  }
  const expected = API_FOR[environment as ExecutionEnvironment];
  if (api !== expected) {
    throw new ConfigurationError([
      `a ${environment} scope must trade through ${expected === 'none' ? 'no API' : `the ${expected} API`}, ` +
        `not ${typeof api === 'string' ? `the ${api} API` : JSON.stringify(api)} (ADR-107: the API mode must match the execution environment).`,
    ]);
  }
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[], problems: string[]): T | undefined {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  problems.push(`${name}=${JSON.stringify(value)} is not allowed; use one of ${allowed.join(', ')}.`);
  return undefined;
}

/** The variables the start-up helper reads. */
export const TRADING_VARIABLES = ['PRECOG_ENV', 'KALSHI_MODE', 'PRECOG_CONFIRM_LIVE'] as const;
/** precog-db's own tool variables: known, but not trading configuration. */
const TOOL_VARIABLES = ['PRECOG_DATA_DIR', 'PRECOG_DEBUG', 'PRECOG_TEST_DB', 'PRECOG_REQUIRE_PGBOUNCER', 'PRECOG_EMBEDDED_MAJOR'] as const;

export interface FromEnvOptions {
  /** More PRECOG_* / KALSHI_* names the application itself reads, so they are not flagged as typos. */
  knownVariables?: readonly string[];
}

/**
 * The start-up helper: reads PRECOG_ENV, KALSHI_MODE and PRECOG_CONFIRM_LIVE (`yes` confirms a
 * live-API combination outside production) from `env` and applies ADR-105's matrix. Throws one
 * ConfigurationError listing every problem at once: bad values, a blocked or unconfirmed
 * combination, and each other PRECOG_* or KALSHI_* variable, which is most likely a typo
 * (`PRECOG_EVN`) that would otherwise be ignored in silence.
 *
 *   const config = tradingConfigurationFromEnv();   // at start-up, before any trade
 *   const scope = db.scope(config.environment, { api: config.kalshiMode });
 */
export function tradingConfigurationFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: FromEnvOptions = {},
): TradingConfiguration {
  const problems: string[] = [];
  const known = new Set<string>([...TRADING_VARIABLES, ...TOOL_VARIABLES, ...(options.knownVariables ?? [])]);
  for (const name of Object.keys(env).sort()) {
    if (!/^(PRECOG|KALSHI)_/.test(name) || known.has(name)) continue;
    const closest = closestName(name, [...TRADING_VARIABLES]);
    problems.push(
      `${name} is set but precog-db reads no such variable` +
        (closest ? `; did you mean ${closest}?` : `; the trading variables are ${TRADING_VARIABLES.join(', ')}.`),
    );
  }
  for (const name of TRADING_VARIABLES) {
    if (env[name] !== undefined && env[name]!.trim() === '') problems.push(`${name} is set but empty; set a value or unset it.`);
  }
  const confirm = env.PRECOG_CONFIRM_LIVE;
  if (confirm !== undefined && confirm.trim() !== '' && !['yes', 'no'].includes(confirm)) {
    problems.push(`PRECOG_CONFIRM_LIVE=${JSON.stringify(confirm)} is not allowed; use yes or no.`);
  }
  const value = (name: 'PRECOG_ENV' | 'KALSHI_MODE') => (env[name]?.trim() === '' ? undefined : env[name]);
  let configuration: TradingConfiguration | undefined;
  try {
    configuration = resolveTradingConfiguration({
      PRECOG_ENV: value('PRECOG_ENV'),
      KALSHI_MODE: value('KALSHI_MODE'),
      confirmLive: confirm === 'yes',
    });
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    problems.push(...error.problems);
  }
  if (problems.length || !configuration) throw new ConfigurationError(problems);
  return configuration;
}

/** The known name within edit distance 3 of `name` (a typo), if any. */
function closestName(name: string, candidates: string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (distance <= 3 && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}
