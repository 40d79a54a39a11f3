/**
 * The entry point applications use: `precogDb(pool).scope('paper', { api: 'demo' })`.
 *
 * A scope offers every generated query. Environment-scoped ones get the scope's environment
 * bound (callers cannot pass or forget it) and every row they return is checked to carry it;
 * a foreign row raises EnvironmentMismatchError instead of being handed out.
 */
import { allQueries } from '../../generated/index.js';
import type { Query, Queryable } from '../runtime/query.js';
import { type ApiModeFor, assertApiMatches } from './api-mode.js';
import type { ExecutionEnvironment } from './brand.js';
import { EnvironmentMismatchError } from './errors.js';
import type { CrossEnvironmentQueries, ScopedQueries, SharedQueries } from './scoped-types.js';

/** A pool of connections (pg.Pool): transactions check a client out of it. */
export interface Pool extends Queryable {
  connect(): Promise<Queryable & { release(error?: Error | boolean): void }>;
}

export type Scope<Env extends ExecutionEnvironment> = ScopedQueries<Env> & {
  readonly environment: Env;
  /**
   * Runs `body` in one transaction (a savepoint when already inside one), still scoped:
   * committed if it resolves, rolled back if it throws.
   */
  transaction<T>(body: (scope: Scope<Env>) => Promise<T>): Promise<T>;
};

export interface PrecogDb {
  scope<Env extends ExecutionEnvironment>(environment: Env, options: { api: ApiModeFor<Env> }): Scope<Env>;
  /** Queries over shared tables (markets, game states, historical data). */
  readonly shared: SharedQueries;
  /** Analytics across environments; each row is branded with its own environment. */
  readonly crossEnvironment: CrossEnvironmentQueries;
}

type AnyQuery = Query<unknown, Record<string, unknown>, string, string>;
type Method = (params?: Record<string, unknown>) => Promise<unknown>;

const queries = Object.values(allQueries) as unknown as AnyQuery[];
const isScoped = (query: AnyQuery) => query.params.some((param) => param.name === 'execution_environment');

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
  return {
    scope(environment, scopeOptions) {
      assertApiMatches(environment, scopeOptions?.api);
      const role = options.environmentRoles ? `SET LOCAL ROLE precog_${environment}` : undefined;
      return buildScope(environment, connection, 0, role);
    },
    shared: methods(connection, (query) => !isScoped(query) && !query.crossEnvironment, runShared) as unknown as SharedQueries,
    crossEnvironment: methods(connection, (query) => Boolean(query.crossEnvironment), runCrossEnvironment) as unknown as CrossEnvironmentQueries,
  };
}

/** `role`: the SET LOCAL ROLE statement each top-level call runs first, when environment roles are on. */
function buildScope<Env extends ExecutionEnvironment>(
  environment: Env,
  connection: Pool | Queryable,
  depth: number,
  role: string | undefined,
): Scope<Env> {
  const run = (query: AnyQuery, db: Queryable, params: Record<string, unknown> | undefined) =>
    isScoped(query) ? runScoped(query, db, params, environment) : runShared(query, db, params);
  const asRole = <T>(body: (client: Queryable) => Promise<T>) =>
    inTransaction(connection, depth, async (client) => {
      await client.query({ text: role! });
      return body(client);
    });
  const scoped = methods(connection, (query) => !query.crossEnvironment, (query, db, params) =>
    role && depth === 0 ? asRole((client) => run(query, client, params)) : run(query, db, params),
  );
  return Object.freeze({
    ...scoped,
    environment,
    transaction: <T>(body: (scope: Scope<Env>) => Promise<T>) =>
      role && depth === 0
        ? asRole((client) => body(buildScope(environment, client, depth + 1, role)))
        : inTransaction(connection, depth, (client) => body(buildScope(environment, client, depth + 1, role))),
  }) as unknown as Scope<Env>;
}

function methods(
  connection: Queryable,
  include: (query: AnyQuery) => boolean,
  run: (query: AnyQuery, db: Queryable, params: Record<string, unknown> | undefined) => Promise<unknown>,
): Record<string, Method> {
  return Object.fromEntries(
    queries.filter(include).map((query) => [query.name, (params?: Record<string, unknown>) => run(query, connection, params)]),
  );
}

async function runScoped(query: AnyQuery, db: Queryable, params: Record<string, unknown> | undefined, environment: ExecutionEnvironment) {
  if (params && 'execution_environment' in params) {
    throw new TypeError(`${query.name}: the scope binds execution_environment (${environment}); do not pass it.`);
  }
  const rows = await query.run({ ...params, execution_environment: environment }, db);
  for (const row of rows) {
    if (row.execution_environment !== environment) throw new EnvironmentMismatchError(query.name, environment, row.execution_environment);
  }
  return rows;
}

async function runShared(query: AnyQuery, db: Queryable, params: Record<string, unknown> | undefined) {
  const rows = await query.run(params ?? {}, db);
  // A shared query must not read environment-tagged rows: that would be a read without a scope.
  const tagged = rows.find((row) => 'execution_environment' in row);
  if (tagged) throw new EnvironmentMismatchError(query.name, 'no environment-tagged row (a shared query)', tagged.execution_environment);
  return rows;
}

async function runCrossEnvironment(query: AnyQuery, db: Queryable, params: Record<string, unknown> | undefined) {
  const allowed = query.crossEnvironment!.environments;
  const rows = await query.run(params ?? {}, db);
  for (const row of rows) {
    if (!allowed.includes(row.execution_environment as string)) {
      throw new EnvironmentMismatchError(query.name, allowed.join(' or '), row.execution_environment);
    }
  }
  return rows;
}

/** BEGIN/COMMIT on a client from the pool; a savepoint when already inside a transaction. */
async function inTransaction<T>(connection: Pool | Queryable, depth: number, body: (client: Queryable) => Promise<T>): Promise<T> {
  if (depth === 0 && isPool(connection)) {
    const client = await connection.connect();
    try {
      const result = await transactionOn(client, 'BEGIN', 'COMMIT', 'ROLLBACK', body);
      client.release();
      return result;
    } catch (error) {
      client.release(error instanceof Error ? error : true);
      throw error;
    }
  }
  const savepoint = `precog_${depth}`;
  if (depth === 0) {
    // One client given: it may already be inside a transaction (a test's), or not.
    const inside = await connection.query({ text: 'SELECT now() <> statement_timestamp() AS inside' }).then(
      (result) => (result.rows[0] as { inside: boolean }).inside,
    );
    if (!inside) return transactionOn(connection, 'BEGIN', 'COMMIT', 'ROLLBACK', body);
  }
  return transactionOn(connection, `SAVEPOINT ${savepoint}`, `RELEASE SAVEPOINT ${savepoint}`, `ROLLBACK TO SAVEPOINT ${savepoint}`, body);
}

async function transactionOn<T>(client: Queryable, begin: string, commit: string, rollback: string, body: (client: Queryable) => Promise<T>) {
  await client.query({ text: begin });
  try {
    const result = await body(client);
    await client.query({ text: commit });
    return result;
  } catch (error) {
    await client.query({ text: rollback }).catch(() => undefined);
    throw error;
  }
}

function isPool(connection: Pool | Queryable): connection is Pool {
  return typeof (connection as { connect?: unknown }).connect === 'function' && 'totalCount' in connection;
}
