/**
 * The entry point applications use: `precogDb(pool).scope('paper', { api: 'demo' })`.
 *
 * A scope offers every generated query. Environment-scoped ones get the scope's environment
 * bound (callers cannot pass or forget it) and every row they return is checked to carry it;
 * a foreign row raises EnvironmentMismatchError instead of being handed out.
 */
import { allQueries } from '../../generated/index.js';
import { type Cardinality, type Query, type Queryable, type QueryEnvironment, shapeRows } from '../runtime/query.js';
import { type ApiModeFor, assertApiMatches } from './api-mode.js';
import type { ExecutionEnvironment, IsUnion } from '../environment/brand.js';
import { ConfigurationError } from '../runtime/errors.js';
import { EnvironmentMismatchError } from './errors.js';
import { ConnectionFault, toDatabaseError } from '../runtime/database-errors.js';
import { guardPool, HeldClient, isPool, TargetOf, withGivenClient, withPoolClient } from '../connection/connections.js';
import { checkDeadlineMs, type Deadline, deadlineOf, DEFAULT_DEADLINE_MS } from '../connection/deadline.js';
import {
  asScope,
  type ConnectionRetryPolicy,
  inTransaction,
  type Isolation,
  type Pool,
  retryingConflicts,
  retryingConnectionFailures,
} from '../connection/transactions.js';
import type { CrossEnvironmentQueries, ScopedQueries, SharedQueries } from './scoped-types.js';
import { type BacktestRunRef, type BacktestRuns, backtestRuns, runId } from '../backtest/runs.js';

export type { ConnectionRetryPolicy, Pool };

export interface TransactionOptions {
  /** Default read committed. With repeatable read or serializable, set `retries` too. */
  isolation?: Isolation;
  /** Run `body` again, up to this many times in all, when it collides with a concurrent writer. */
  retries?: number;
  /**
   * The whole transaction (body, retries and COMMIT) answers within this many milliseconds;
   * default precogDb's `deadlineMs`. Inside another transaction the outer one's deadline holds.
   */
  deadlineMs?: number;
}

export type Scope<Env extends ExecutionEnvironment> = ScopedQueries<Env> & {
  readonly environment: Env;
  /**
   * Runs `body` in one transaction (a savepoint when already inside one), still scoped:
   * committed if it resolves, rolled back if it throws.
   */
  transaction<T>(body: (scope: Scope<Env>) => Promise<T>, options?: TransactionOptions): Promise<T>;
};

/** What `scope(...)` says, as its environment argument's type, when it is given a union. */
export type UnionEnvironmentMessage =
  'precog-db: a scope has exactly one execution environment; narrow the environment (e.g. if (config.environment === "paper")) before scope(...)';
/** What `scope(env, ...)` says when precogDb() was given no connection for `env`. */
export type ConnectionMissingMessage<Env extends string> =
  `precog-db: no ${Env} connection was given to precogDb(); pass precogDb({ ${Env}: pool, ... }) with the ${Env} login`;

/** True when `Env` is 'backtest' (false for any other single environment, and for a type parameter). */
type IsBacktest<Env> = [Env] extends [Exclude<Env, 'backtest'>] ? false : true;

/**
 * The options of `scope(environment, ...)`: the API it trades through, and a backtest scope's run
 * (required there, refused elsewhere).
 */
export type ScopeOptions<Env extends ExecutionEnvironment> = { api: ApiModeFor<Env> } & (IsBacktest<Env> extends true
  ? { run: BacktestRunRef }
  : { run?: never });

/**
 * The type of `scope`'s environment argument: the environment itself, or, for a call that cannot
 * be right, the sentence saying why (the first line of the error, on the argument): a union
 * (`'live' | 'paper'` read from configuration), or an environment precogDb() was given no
 * connection for.
 *
 * Written so that generic code compiles. For a type parameter (`<Env extends 'live' | 'paper'>`)
 * TypeScript checks an argument against both branches of a conditional type, unless the first
 * cannot apply to any instantiation: `IsUnion`, `IsMissing` and `IsBacktest` are all `false`
 * for a type parameter, so only the last branch is checked. The union refusal still holds at the
 * generic function's own call sites (`ApiModeFor` of a union is `never`); a generic over
 * `'backtest'` too is not held to give a run (the scope refuses it when called).
 */
export type ScopeEnvironment<Env extends ExecutionEnvironment, Given extends Connection> =
  IsUnion<Env> extends true ? UnionEnvironmentMessage : IsMissing<Env, Given> extends true ? ConnectionMissingMessage<Env> : Env;

/** True when `Env` (one environment) has no connection among `Given`; false for a type parameter. */
type IsMissing<Env, Given> = [Env] extends [Exclude<Env, Exclude<Env, Given>>] ? false : true;

/** The names of `precogDb({ ... })`'s connections. */
export type Connection = keyof EnvironmentConnections;

export interface PrecogDb<Given extends Connection = Connection> {
  /**
   * The queries of one environment. A backtest scope is opened for one run (`{ api: 'none', run }`):
   * its calls run as precog_backtest with the run set for their transaction, so the database
   * shows and accepts that run's rows only ([backtest-run]) and files every row it writes there.
   * Only the environments precogDb() was given a connection for have a scope.
   */
  scope<Env extends ExecutionEnvironment>(environment: ScopeEnvironment<Env, Given>, options: ScopeOptions<Env>): Scope<Env>;
  /** Backtest runs: create, list, finish, delete (constant time), bulk-load (src/backtest/). Needs the backtest connection. */
  readonly backtests: 'backtest' extends Given ? BacktestRuns : ConnectionMissingMessage<'backtest'>;
  /** Queries over shared tables (markets, game states, historical data). */
  readonly shared: SharedQueries;
  /** Analytics across environments; each row is branded with its own environment. Needs the analyst connection. */
  readonly crossEnvironment: 'analyst' extends Given ? CrossEnvironmentQueries : ConnectionMissingMessage<'analyst'>;
}

/** The connections given: the keys of `{ paper: pool, ... }` whose value is not (only) undefined. */
export type GivenConnections<C> = { [K in keyof C & Connection]-?: [C[K]] extends [undefined] ? never : K }[keyof C & Connection];

type AnyQuery = Query<unknown, Record<string, unknown>, string, QueryEnvironment, Cardinality>;
type Method = (params?: Record<string, unknown>) => Promise<unknown>;

const queries = Object.values(allQueries) as unknown as AnyQuery[];
// Codegen classed each query from what it reads and writes (src/codegen/classify.ts), not from its parameters.
const isScoped = (query: AnyQuery) => query.environment === 'scoped';
const isCross = (query: AnyQuery) => query.environment === 'cross';

export interface PrecogDbOptions {
  /**
   * Run every scoped call as the database role of its environment (`SET LOCAL ROLE precog_paper`,
   * inside a transaction), so row-level security refuses other environments' rows even if a
   * query were wrong. Off by default: it costs a transaction per call. The connecting user must
   * be a member of the roles (see migrations/committed/000004-*).
   */
  environmentRoles?: boolean;
  /**
   * Retry calls that could not reach the server, when that is safe: a connection that could not
   * be opened (ConnectionFailedError: nothing was sent), and a connection lost during a one-query
   * call that did not commit (ConnectionLostError: a read, or a write inside precog-db's own
   * transaction before its COMMIT). Never after OutcomeUnknownError, never inside a transaction,
   * and `scope.transaction(body)` only when the failure came before `body` ran. Bounded:
   * `attempts` in all, with exponential back-off (100 ms doubled, at most 2 s, jittered).
   * Off by default: `precogDb(pool, { retryConnectionFailures: { attempts: 3 } })`.
   */
  retryConnectionFailures?: ConnectionRetryPolicy;
  /**
   * Every call (and every `scope.transaction`) answers within this many milliseconds, whatever
   * sits between it and the database (a pooler queueing it for a server that is down): at the
   * deadline precog-db sends a cancel request, closes the connection, and the call rejects with
   * ConnectionFailedError (reason `deadline`: it had no connection yet, nothing was sent),
   * ConnectionLostError (nothing committed) or OutcomeUnknownError (a commit or lone write was
   * in flight), each with `deadlineMs` set. Retries happen within it. Default 15,000 ms;
   * `Infinity` for none. `db.backtests` (bulk loads) runs without one. docs/errors.md.
   */
  deadlineMs?: number;
}

/**
 * One connection per environment, each through that environment's own login (README, Deploying):
 * a scope of `paper` runs only on `paper`, so a process given only the paper connection cannot
 * reach live rows, whatever SQL runs on it. `analyst` (precog_analyst's login) serves
 * `crossEnvironment`; `ingest` (precog_ingest's) serves `shared`, which falls back to `analyst` or
 * any connection given for reads (only precog_ingest may write the shared tables).
 */
export interface EnvironmentConnections {
  live?: Pool | Queryable;
  paper?: Pool | Queryable;
  backtest?: Pool | Queryable;
  analyst?: Pool | Queryable;
  ingest?: Pool | Queryable;
}

/**
 * @param connection the connections of each environment (the deployment to use:
 *   `precogDb({ paper: paperPool })`), or, for tools and tests, one pg.Pool or client for every
 *   environment (its login must then be the owner, or a member of every environment role with
 *   `environmentRoles: true`). A pool: each call checks out a client, listened to while held; one
 *   client: a pg.Client, or a client already inside a transaction, as tests use (scope
 *   transactions become savepoints). Every failure rejects with a typed error (docs/errors.md).
 *   precog-db listens on each pool's 'error' event (an idle connection broke), so a restarting
 *   server does not crash the process; listen on it too to log those events.
 */
export function precogDb(connection: Pool | Queryable, options?: PrecogDbOptions): PrecogDb;
export function precogDb<const C extends EnvironmentConnections>(
  connections: C & Record<Exclude<keyof C, Connection>, never>,
  options?: PrecogDbOptions,
): PrecogDb<GivenConnections<C>>;
// The overloads say what the result offers; here it is built for whatever was given.
export function precogDb(connection: Pool | Queryable | EnvironmentConnections, options: PrecogDbOptions = {}): unknown {
  const given = isConnections(connection) ? connection : undefined;
  const deadlineMs = checkDeadlineMs('precogDb()', options.deadlineMs) ?? DEFAULT_DEADLINE_MS;
  const contexts = new Map<Pool | Queryable, Context>();
  const contextOf = (which: keyof EnvironmentConnections): Context | undefined => {
    const chosen = given ? given[which] : (connection as Pool | Queryable);
    if (!chosen) return undefined;
    if (!contexts.has(chosen)) {
      if (isPool(chosen)) guardPool(chosen);
      contexts.set(chosen, { connection: chosen, depth: 0, role: undefined, target: new TargetOf(chosen), retry: options.retryConnectionFailures, deadlineMs });
    }
    return contexts.get(chosen)!;
  };
  const shared = contextOf('ingest') ?? contextOf('analyst') ?? contextOf('live') ?? contextOf('paper') ?? contextOf('backtest');
  const analyst = contextOf('analyst');
  const db = {
    scope(environment: ExecutionEnvironment, scopeOptions: unknown) {
      assertApiMatches(environment, (scopeOptions as { api?: unknown } | undefined)?.api);
      const context = contextOf(environment);
      if (!context) throw missingConnection(environment, `a ${environment} scope`);
      const run = scopeRun(environment, (scopeOptions as { run?: unknown } | undefined)?.run);
      // A run scope always takes the role: row-level security is what holds it to its run.
      const role = options.environmentRoles || run !== undefined ? `SET LOCAL ROLE precog_${environment}` : undefined;
      const setup = run === undefined ? role : `${role}; SELECT public.precog_enter_backtest_run('${run}'::bigint)`;
      // The scope's run is held by the database ([backtest-run]): no row of another run is visible.
      return buildScope(environment, { ...context, role: setup });
    },
    backtests: backtestRuns(contextOf('backtest')),
    shared: (shared ? methods(shared, (query) => query.environment === 'shared', runShared) : unavailable('shared', 'ingest')) as unknown as SharedQueries,
    crossEnvironment: (analyst ? methods(analyst, isCross, runCrossEnvironment) : unavailable('cross', 'analyst')) as unknown as CrossEnvironmentQueries,
  };
  // What exists at run time matches the types: a scope or group without its connection refuses, naming it.
  return db as unknown as PrecogDb;
}

const CONNECTION_NAMES = ['live', 'paper', 'backtest', 'analyst', 'ingest'];

function isConnections(connection: Pool | Queryable | EnvironmentConnections): connection is EnvironmentConnections {
  if (typeof (connection as { query?: unknown }).query === 'function') return false;
  const unknown = Object.keys(connection).filter((key) => !CONNECTION_NAMES.includes(key));
  if (unknown.length || !Object.keys(connection).length) {
    throw new ConfigurationError([
      `precogDb() takes a pg.Pool or client, or { ${CONNECTION_NAMES.join(', ')} } of them; got ${unknown.length ? `unknown keys ${unknown.join(', ')}` : 'an empty object'}.`,
    ]);
  }
  return true;
}

function missingConnection(name: string, what: string): ConfigurationError {
  const article = /^[aeiou]/.test(name) ? 'an' : 'a';
  return new ConfigurationError([`${what} needs ${article} ${name} connection: precogDb({ ${name}: pool, ... }) with the ${name} login (README, Deploying).`]);
}

/** Methods that refuse, for a kind of query no connection was given for. */
function unavailable(kind: QueryEnvironment, name: string): Record<string, Method> {
  const what = kind === 'cross' ? 'cross-environment analytics' : 'shared queries';
  return Object.fromEntries(
    queries.filter((query) => query.environment === kind).map((query) => [query.name, () => Promise.reject(missingConnection(name, what))]),
  );
}

/** Where a scope's calls run: the connection, how deep in transactions, and the role to take. */
interface Context {
  /** The pool or client given to precogDb(); inside a transaction, the client precog-db holds. */
  connection: Pool | Queryable;
  depth: number;
  /**
   * Run first in each top-level call: `SET LOCAL ROLE precog_<env>` when environment roles are on,
   * and in a backtest run scope also enters the run (`precog_enter_backtest_run`) for the transaction.
   */
  role: string | undefined;
  /** Host, port and database, for connection errors. */
  target: TargetOf;
  retry: ConnectionRetryPolicy | undefined;
  /** Each top-level call's deadline (precogDb's `deadlineMs`). */
  deadlineMs: number;
}

const TRANSACTION: { name: string; file: string } = { name: 'transaction', file: 'scope.transaction' };

const always = () => true;

/** Versions a concurrent writer of the same key superseded are retried this many times in all. */
const SCD_WRITE_ATTEMPTS = 50;

function buildScope<Env extends ExecutionEnvironment>(environment: Env, context: Context): Scope<Env> {
  const scoped = methods(context, (query) => !isCross(query), (query, db, params) =>
    isScoped(query) ? runScoped(query, db, params, environment) : runShared(query, db, params),
  );
  return Object.freeze({
    ...scoped,
    environment,
    transaction: <T>(body: (scope: Scope<Env>) => Promise<T>, options: TransactionOptions = {}) => {
      let bodyStarted = false;
      const ms = checkDeadlineMs('scope.transaction()', options.deadlineMs) ?? context.deadlineMs;
      // One deadline for the whole transaction, retries included; a savepoint runs under its transaction's.
      const deadline = context.depth === 0 ? deadlineOf(ms) : undefined;
      const attempt = () =>
        retryingConflicts(options.retries ?? 1, () =>
          inTransaction(
            context.connection,
            context.target,
            TRANSACTION,
            async (client) => {
              const inScope = () => {
                bodyStarted = true;
                return body(buildScope(environment, { ...context, connection: client, depth: context.depth + 1 }));
              };
              return context.role && context.depth === 0 ? asScope(client, TRANSACTION, context.role, inScope) : inScope();
            },
            options.isolation,
            deadline,
          ),
        );
      // The body may do more than write to the database (call an API): it is run again only if it never started.
      if (context.depth > 0) return attempt();
      return retryingConnectionFailures(
        context.retry,
        () => !bodyStarted,
        () => {
          bodyStarted = false;
          return attempt();
        },
        deadline,
      );
    },
  }) as unknown as Scope<Env>;
}

/**
 * One method per query. A top-level call runs in a transaction of its own when it must: to take
 * the environment's role, or for an SCD write (`-- scd-write` in sql/), which runs under
 * REPEATABLE READ so that a concurrent writer of the same key makes it fail and retry on top of
 * the new version, where READ COMMITTED would quietly write nothing.
 */
function methods(
  context: Context,
  include: (query: AnyQuery) => boolean,
  run: (query: AnyQuery, db: Queryable, params: Record<string, unknown> | undefined) => Promise<unknown>,
): Record<string, Method> {
  const call = (query: AnyQuery, params: Record<string, unknown> | undefined): Promise<unknown> => {
    // Inside a transaction: the client precog-db holds, whose faults query.run maps itself.
    if (context.depth > 0) return run(query, context.connection, params);
    const once = !context.role && !query.scdWrite ? single : transactional;
    // One deadline for the whole call, its retries included.
    const deadline = deadlineOf(context.deadlineMs);
    // Without a retry policy, no wrapper is built per call.
    if (!context.retry || context.retry.attempts <= 1) return once(query, params, deadline);
    // A lost connection of a one-query call is ConnectionLostError only if nothing of it committed: safe to repeat.
    return retryingConnectionFailures(context.retry, always, () => once(query, params, deadline), deadline);
  };
  /** One statement on its own (its own commit): on a client checked out for it, listened to meanwhile. */
  const single = async (query: AnyQuery, params: Record<string, unknown> | undefined, deadline: Deadline | undefined) => {
    const { connection, target } = context;
    try {
      if (isPool(connection)) return await withPoolClient(connection, target, (client) => run(query, client, params), deadline);
      if (connection instanceof HeldClient) return await run(query, connection, params);
      return await withGivenClient(connection, target, false, (client) => run(query, client, params), deadline);
    } catch (error) {
      // Faults of connecting, and the deadline passing while the statement was in flight (a lone write: its own commit).
      throw error instanceof ConnectionFault ? toDatabaseError(error, { name: query.name, file: query.file, readOnly: query.readOnly }) : error;
    }
  };
  const transactional = (query: AnyQuery, params: Record<string, unknown> | undefined, deadline: Deadline | undefined) =>
    retryingConflicts(query.scdWrite ? SCD_WRITE_ATTEMPTS : 1, () =>
      inTransaction(
        context.connection,
        context.target,
        query,
        async (client) => {
          const call = () => run(query, client, params);
          return context.role ? asScope(client, query, context.role, call) : call();
        },
        query.scdWrite ? 'repeatable read' : undefined,
        deadline,
      ),
    );
  return Object.fromEntries(queries.filter(include).map((query) => [query.name, (params?: Record<string, unknown>) => call(query, params)]));
}

async function runScoped(query: AnyQuery, db: Queryable, params: Record<string, unknown> | undefined, environment: ExecutionEnvironment) {
  if (params && 'execution_environment' in params) {
    throw new TypeError(`${query.name}: the scope binds execution_environment (${environment}); do not pass it.`);
  }
  if (query.expansions) {
    for (const expansion of query.expansions) {
      const value = params?.[expansion.name];
      const items = Array.isArray(value) ? value : [value];
      if (items.some((item) => item && typeof item === 'object' && 'execution_environment' in item)) {
        throw new TypeError(`${query.name}: the scope binds execution_environment (${environment}) in every row of ${expansion.name}; do not pass it.`);
      }
    }
  }
  // The scope's environment is bound by rows() itself: the caller's parameters are not copied per call.
  const rows = await query.rows(params ?? {}, db, environment);
  // Every row is checked, whatever the cardinality: a foreign second row is a mismatch, not a count.
  for (let index = 0; index < rows.length; index++) {
    const found = rows[index]!.execution_environment;
    if (found !== environment) throw new EnvironmentMismatchError(query.name, environment, found);
    checkRun(query, rows[index]!);
  }
  return shapeRows(query, rows);
}

/** A row's backtest_run_id agrees with its environment (a run for backtest, none otherwise), as its type says. */
function checkRun(query: AnyQuery, row: Record<string, unknown>): void {
  if (!('backtest_run_id' in row)) return;
  const hasRun = row.backtest_run_id !== null && row.backtest_run_id !== undefined;
  if (hasRun !== (row.execution_environment === 'backtest')) {
    throw new EnvironmentMismatchError(query.name, `a ${row.execution_environment} row ${hasRun ? 'without' : 'with'} a backtest run`, `${row.execution_environment} with backtest_run_id ${String(row.backtest_run_id)}`);
  }
}

/** The run of a backtest scope (required), as digits; none for live and paper. */
function scopeRun(environment: ExecutionEnvironment, run: unknown): string | undefined {
  if (environment !== 'backtest') {
    if (run !== undefined) throw new ConfigurationError([`scope('${environment}'): only a backtest scope has a run; got run ${String(run)}.`]);
    return undefined;
  }
  const id = runId(run);
  if (id === undefined) {
    throw new ConfigurationError([
      `scope('backtest') needs the run its rows belong to: scope('backtest', { api: 'none', run }), with a run from db.backtests.create(...); got ${run === undefined ? 'no run' : JSON.stringify(String(run))}.`,
    ]);
  }
  return id;
}

async function runShared(query: AnyQuery, db: Queryable, params: Record<string, unknown> | undefined) {
  const rows = await query.rows(params ?? {}, db);
  // A shared query must not read environment-tagged rows: that would be a read without a scope.
  const tagged = rows.find((row) => 'execution_environment' in row);
  if (tagged) throw new EnvironmentMismatchError(query.name, 'no environment-tagged row (a shared query)', tagged.execution_environment);
  return shapeRows(query, rows);
}

async function runCrossEnvironment(query: AnyQuery, db: Queryable, params: Record<string, unknown> | undefined) {
  const allowed = query.crossEnvironment!.environments;
  const rows = await query.rows(params ?? {}, db);
  for (const row of rows) {
    if (!allowed.includes(row.execution_environment as string)) {
      throw new EnvironmentMismatchError(query.name, allowed.join(' or '), row.execution_environment);
    }
    checkRun(query, row);
  }
  return shapeRows(query, rows);
}
