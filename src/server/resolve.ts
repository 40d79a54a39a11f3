/**
 * The one place that decides which PostgreSQL server precog-db talks to:
 * DATABASE_URL when set, otherwise the embedded server (started on demand).
 */
import pg from 'pg';
import { describeDatabase, parseConnectionString, redact, type ServerTarget } from './connection-string.js';
import { ensureEmbeddedServer } from './embedded.js';

export interface DatabaseTarget {
  server: ServerTarget;
  /** The application database; graphile-migrate's shadow is `${database}_shadow`. */
  database: string;
}

export const DEFAULT_DATABASE = 'precog';
const GRAPHILE_MIGRATE_PLACEHOLDER = 'postgres://PLEASE:USE@GM_DBURL/INSTEAD';

/** Resolves the target from an environment variable holding a URL, or the embedded server. */
export async function resolveTarget(variable = 'DATABASE_URL'): Promise<DatabaseTarget> {
  let url = process.env[variable];
  // Inside a graphile-migrate hook (afterCurrent runs codegen), DATABASE_URL is a placeholder and
  // the real URL is GM_DBURL.
  if (url === GRAPHILE_MIGRATE_PLACEHOLDER && process.env.GM_DBURL) url = process.env.GM_DBURL;
  if (url) return parseConnectionString(url, variable);
  return { server: await ensureEmbeddedServer(), database: DEFAULT_DATABASE };
}

/** Connects to `database` on the server, with an error that names host, port and database. */
export async function connect(server: ServerTarget, database: string): Promise<pg.Client> {
  const client = new pg.Client({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database,
    connectionTimeoutMillis: 10_000,
  });
  try {
    await client.connect();
  } catch (error) {
    throw unreachable(server, database, error);
  }
  return client;
}

export function unreachable(server: ServerTarget, database: string, error: unknown): Error {
  const reason = redact(error instanceof Error ? error.message : String(error));
  return new Error(
    `Cannot connect to PostgreSQL at ${describeDatabase(server, database)} as ${server.user} ` +
      `(${server.origin}): ${reason}. Check that the server runs and accepts this user, ` +
      'or unset DATABASE_URL to use the embedded server.',
    { cause: error },
  );
}

/** Creates `database` when it does not exist yet (connecting through the `postgres` database). */
export async function ensureDatabase(server: ServerTarget, database: string): Promise<void> {
  // Through the maintenance database; a failure is reported for the database the user asked for.
  const client = await connect(server, 'postgres').catch((error: Error) => {
    throw unreachable(server, database, error.cause ?? error);
  });
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`).catch((error: { code?: string }) => {
        // 42P04: created meanwhile by a concurrent command, which is what we wanted.
        if (error.code !== '42P04') throw error;
      });
    }
  } finally {
    await client.end();
  }
}
