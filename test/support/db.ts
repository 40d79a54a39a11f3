/** Database helpers for tests, named after the isolation they give. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { cloneDatabase, dropDatabase } from '../../src/migrations/fresh-database.js';
import type { ServerTarget } from '../../src/server/connection-string.js';

export function testServer(): ServerTarget {
  return inject('server');
}

/** `backtestRun`: every connection files its backtest rows under that run (precog.backtest_run, as a backtest scope sets per transaction). */
export function poolFor(database: string, server: ServerTarget = testServer(), max = 10, session: { backtestRun?: string } = {}): pg.Pool {
  const { host, port, user, password } = server;
  const options = session.backtestRun === undefined ? undefined : `-c precog.backtest_run=${session.backtestRun}`;
  return new pg.Pool({ host, port, user, password, database, max, ...(options && { options }) });
}

/**
 * The database of this test file's withRollback calls: a clone of the migrated template made on
 * first use, dropped after the file. Not one database for every file: files run in parallel, and
 * on a shared database their uncommitted rows still collide (a second insert of one key waits for
 * the first, two such waits deadlock), sequences and advisory locks are shared, and DDL locks
 * (a backtest run's partitions) stall the others.
 */
let fileDatabase: Promise<string> | undefined;
function rollbackDatabase(): Promise<string> {
  fileDatabase ??= (async () => {
    const database = `precog_test_${randomBytes(4).toString('hex')}`;
    await cloneDatabase(testServer(), inject('template'), database);
    return database;
  })();
  return fileDatabase;
}
afterAll(async () => {
  if (fileDatabase) await dropDatabase(testServer(), await fileDatabase);
});

/**
 * Runs `body` in a transaction on this file's database and rolls it back: nothing a test writes
 * is seen by another (in this file or any other), and tests run in any order.
 */
export async function withRollback<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const pool = poolFor(await rollbackDatabase(), testServer(), 1);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    return await body(client);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
    await pool.end();
  }
}

/**
 * A database of its own, cloned from the migrated template, for tests that must commit
 * (concurrency, roles, faults). Dropped afterwards.
 */
export async function withFreshDatabase<T>(body: (database: string, pool: pg.Pool) => Promise<T>): Promise<T> {
  const server = testServer();
  const database = `precog_test_${randomBytes(4).toString('hex')}`;
  await cloneDatabase(server, inject('template'), database);
  const pool = poolFor(database, server);
  try {
    return await body(database, pool);
  } finally {
    await pool.end();
    await dropDatabase(server, database);
  }
}
