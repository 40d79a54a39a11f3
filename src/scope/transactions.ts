/**
 * Transactions for scopes: BEGIN/COMMIT on a client checked out of a pool, or savepoints when
 * already inside a transaction, and retries of work that collided with a concurrent writer.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RetryableConflictError } from '../runtime/database-errors.js';
import type { Queryable } from '../runtime/query.js';

/** A pool of connections (pg.Pool): transactions check a client out of it. */
export interface Pool extends Queryable {
  connect(): Promise<Queryable & { release(error?: Error | boolean): void }>;
}

export type Isolation = 'read committed' | 'repeatable read' | 'serializable';

/**
 * Runs `body` in a transaction: BEGIN/COMMIT on a client from the pool, or on the one client
 * given; a savepoint when `depth` > 0 or the client is already inside a transaction (a test's).
 * `isolation` applies only where a transaction begins (a savepoint inherits its parent's).
 */
export async function inTransaction<T>(
  connection: Pool | Queryable,
  depth: number,
  body: (client: Queryable) => Promise<T>,
  isolation: Isolation = 'read committed',
): Promise<T> {
  const begin = `BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}`;
  if (depth === 0 && isPool(connection)) {
    const client = await connection.connect();
    try {
      const result = await transactionOn(client, begin, 'COMMIT', 'ROLLBACK', body);
      client.release();
      return result;
    } catch (error) {
      client.release(error instanceof Error ? error : true);
      throw error;
    }
  }
  if (depth === 0 && !(await insideTransaction(connection))) return transactionOn(connection, begin, 'COMMIT', 'ROLLBACK', body);
  const savepoint = `precog_${depth}`;
  return transactionOn(connection, `SAVEPOINT ${savepoint}`, `RELEASE SAVEPOINT ${savepoint}`, `ROLLBACK TO SAVEPOINT ${savepoint}`, body);
}

/**
 * Runs `work` again when it collided with a concurrent transaction (serialization failure,
 * deadlock): PostgreSQL rolled it back whole, so running it again is safe.
 */
export async function retryingConflicts<T>(attempts: number, work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof RetryableConflictError) || attempt >= attempts) throw error;
      // Jittered backoff, so colliding writers do not collide again in lockstep.
      await sleep(Math.random() * 5 * attempt);
    }
  }
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

/**
 * Whether one client given to precogDb() is inside a transaction: there now() is the
 * transaction's start, earlier than this statement's; outside, each statement is its own.
 */
async function insideTransaction(client: Queryable): Promise<boolean> {
  const { rows } = await client.query({ text: 'SELECT now() <> statement_timestamp() AS inside' });
  return (rows[0] as { inside: boolean }).inside;
}

function isPool(connection: Pool | Queryable): connection is Pool {
  return typeof (connection as { connect?: unknown }).connect === 'function' && 'totalCount' in connection;
}
