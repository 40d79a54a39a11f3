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
import { EnvironmentMismatchError } from './errors.js';
import { inTransaction, type Isolation, type Pool, retryingConflicts } from './transactions.js';
import type { CrossEnvironmentQueries, ScopedQueries, SharedQueries } from './scoped-types.js';

export type { Pool };

export interface TransactionOptions {
  /** Default read committed. With repeatable read or serializable, set `retries` too. */
  isolation?: Isolation;
  /** Run `body` again, up to this many times in all, when it collides with a concurrent writer. */
  retries?: number;
}

export type Scope<Env extends ExecutionEnvironment> = ScopedQueries<Env> & {
  readonly environment: Env;
  /**
   * Runs `body` in one transaction (a savepoint when already inside one), still scoped:
   * committed if it resolves, rolled back if it throws.
   */
  transaction<T>(body: (scope: Scope<Env>) => Promise<T>, options?: TransactionOptions): Promise<T>;
};

/**
 * The options of `scope(environment, ...)`. For a union environment (`'live' | 'paper'` read from
 * configuration) there is no right API, so the options are a message instead: narrow first.
 */
export type ScopeOptions<Env extends ExecutionEnvironment> =
  IsUnion<Env> extends true
    ? 'precog-db: a scope has exactly one execution environment; narrow the environment (e.g. if (config.environment === "paper")) before scope(...)'
    : { api: ApiModeFor<Env> };

export interface PrecogDb {
  scope<Env extends ExecutionEnvironment>(environment: Env, options: ScopeOptions<Env>): Scope<Env>;
  /** Queries over shared tables (markets, game states, historical data). */
  readonly shared: SharedQueries;
  /** Analytics across environments; each row is branded with its own environment. */
  readonly crossEnvironment: CrossEnvironmentQueries;
}

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
}

/**
 * @param connection a pg.Pool (transactions check out a client), or one client (a pg.Client, or a
 *   client already inside a transaction, as tests use: scope transactions become savepoints).
 */
export function precogDb(connection: Pool | Queryable, options: PrecogDbOptions = {}): PrecogDb {
  const top: Context = { connection, depth: 0, role: undefined };
  return {
    scope(environment, scopeOptions) {
      assertApiMatches(environment, (scopeOptions as { api?: unknown } | undefined)?.api);
      const role = options.environmentRoles ? `SET LOCAL ROLE precog_${environment}` : undefined;
      return buildScope(environment, { connection, depth: 0, role });
    },
    shared: methods(top, (query) => query.environment === 'shared', runShared) as unknown as SharedQueries,
    crossEnvironment: methods(top, isCross, runCrossEnvironment) as unknown as CrossEnvironmentQueries,
  };
}

/** Where a scope's calls run: the connection, how deep in transactions, and the role to take. */
interface Context {
  connection: Pool | Queryable;
  depth: number;
  /** `SET LOCAL ROLE precog_<env>`, run first in each top-level call when environment roles are on. */
  role: string | undefined;
}

/** Versions a concurrent writer of the same key superseded are retried this many times in all. */
const SCD_WRITE_ATTEMPTS = 50;

function buildScope<Env extends ExecutionEnvironment>(environment: Env, context: Context): Scope<Env> {
  const scoped = methods(context, (query) => !isCross(query), (query, db, params) =>
    isScoped(query) ? runScoped(query, db, params, environment) : runShared(query, db, params),
  );
  return Object.freeze({
    ...scoped,
    environment,
    transaction: <T>(body: (scope: Scope<Env>) => Promise<T>, options: TransactionOptions = {}) =>
      retryingConflicts(options.retries ?? 1, () =>
        inTransaction(
          context.connection,
          context.depth,
          async (client) => {
            if (context.role && context.depth === 0) await client.query({ text: context.role });
            return body(buildScope(environment, { ...context, connection: client, depth: context.depth + 1 }));
          },
          options.isolation,
        ),
      ),
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
  const call = (query: AnyQuery, params: Record<string, unknown> | undefined) => {
    if (context.depth > 0 || (!context.role && !query.scdWrite)) return run(query, context.connection, params);
    return retryingConflicts(query.scdWrite ? SCD_WRITE_ATTEMPTS : 1, () =>
      inTransaction(
        context.connection,
        0,
        async (client) => {
          if (context.role) await client.query({ text: context.role });
          return run(query, client, params);
        },
        query.scdWrite ? 'repeatable read' : undefined,
      ),
    );
  };
  return Object.fromEntries(queries.filter(include).map((query) => [query.name, (params?: Record<string, unknown>) => call(query, params)]));
}

async function runScoped(query: AnyQuery, db: Queryable, params: Record<string, unknown> | undefined, environment: ExecutionEnvironment) {
  if (params && 'execution_environment' in params) {
    throw new TypeError(`${query.name}: the scope binds execution_environment (${environment}); do not pass it.`);
  }
  for (const expansion of query.expansions ?? []) {
    const value = params?.[expansion.name];
    const items = Array.isArray(value) ? value : [value];
    if (items.some((item) => item && typeof item === 'object' && 'execution_environment' in item)) {
      throw new TypeError(`${query.name}: the scope binds execution_environment (${environment}) in every row of ${expansion.name}; do not pass it.`);
    }
  }
  const rows = await query.rows({ ...params, execution_environment: environment }, db);
  // Every row is checked, whatever the cardinality: a foreign second row is a mismatch, not a count.
  for (const row of rows) {
    if (row.execution_environment !== environment) throw new EnvironmentMismatchError(query.name, environment, row.execution_environment);
  }
  return shapeRows(query, rows);
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
  }
  return shapeRows(query, rows);
}
