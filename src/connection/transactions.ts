/**
 * Transactions for scopes: BEGIN/COMMIT on a client checked out of a pool, or savepoints when
 * already inside a transaction, and retries of work that collided with a concurrent writer or
 * (when asked for) could not reach the server.
 *
 * Every statement here runs on a HeldClient (src/connection/connections.ts), so a connection lost at
 * BEGIN, SET LOCAL ROLE, in the body or at COMMIT reaches the caller as a typed error: lost
 * before COMMIT was sent, ConnectionLostError (nothing committed); lost once COMMIT of a
 * transaction that wrote was sent, OutcomeUnknownError (it may have committed).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConnectionFailedError,
  ConnectionFault,
  ConnectionLostError,
  DatabaseError,
  RetryableConflictError,
  toDatabaseError,
  type ErrorContext,
} from '../runtime/database-errors.js';
import type { QueryResultRow } from 'pg';
import type { Queryable } from '../runtime/query.js';
import { HeldClient, isPool, type Pool, type TargetOf, withGivenClient, withPoolClient } from './connections.js';
import type { Deadline } from './deadline.js';

export type { Pool };

export type Isolation = 'read committed' | 'repeatable read' | 'serializable';

/** What a transaction is for, to name it in errors: the query of a one-statement call, or `transaction`. */
export type CallContext = Pick<ErrorContext, 'name' | 'file'>;

/**
 * Runs `body` in a transaction: BEGIN/COMMIT on a client from the pool, or on the one client
 * given; a savepoint when `connection` is already a client of precog-db inside a transaction, or
 * the one client given is inside a transaction (a test's). `isolation` applies only where a
 * transaction begins (a savepoint inherits its parent's), and so does `deadline` (a savepoint
 * runs under its transaction's).
 */
export async function inTransaction<T>(
  connection: Pool | Queryable,
  target: TargetOf,
  call: CallContext,
  body: (client: HeldClient) => Promise<T>,
  isolation: Isolation = 'read committed',
  deadline?: Deadline,
): Promise<T> {
  const begin = `BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}`;
  const top = (held: HeldClient) => transactionOn(held, call, begin, 'COMMIT', 'ROLLBACK', body);
  try {
    if (connection instanceof HeldClient) {
      if (!connection.inTransaction) return await top(connection);
      return await savepoint(connection, call, body);
    }
    if (isPool(connection)) return await withPoolClient(connection, target, top, deadline);
    return await withGivenClient(
      connection,
      target,
      false,
      async (held) => {
        if (!(await insideTransaction(held, call))) return top(held);
        held.inTransaction = true;
        return savepoint(held, call, body);
      },
      deadline,
    );
  } catch (error) {
    // Faults of connecting and of the deadline (withPoolClient) are mapped here, with the call's name:
    // none of them is a lone statement, so `readOnly` only keeps BEGIN from counting as a write.
    throw error instanceof ConnectionFault ? toDatabaseError(error, { ...call, readOnly: true }) : error;
  }
}

let savepoints = 0;

function savepoint<T>(held: HeldClient, call: CallContext, body: (client: HeldClient) => Promise<T>): Promise<T> {
  const name = `precog_${++savepoints}`;
  return transactionOn(held, call, `SAVEPOINT ${name}`, `RELEASE SAVEPOINT ${name}`, `ROLLBACK TO SAVEPOINT ${name}`, async (client) => {
    client.savepoints++;
    try {
      return await body(client);
    } finally {
      client.savepoints--;
    }
  });
}

/**
 * Runs `body` after `setup` (`SET LOCAL ROLE ...`, the backtest run), on a client in a transaction
 * precog-db opened. SET LOCAL lasts until the end of the top-level transaction, RELEASE SAVEPOINT
 * included: inside a caller's transaction the role and the run are put back as they were once
 * `body` is done, or a backtest scope's role and run would hold for the caller's next statements
 * (a live scope's reads would then run as precog_backtest). A failure rolls the savepoint back,
 * which puts them back too.
 */
export async function asScope<T>(held: HeldClient, call: CallContext, setup: string, body: () => Promise<T>): Promise<T> {
  if (held.savepoints === 0) {
    await control(held, call, setup);
    return body();
  }
  const saved = `SELECT pg_catalog.current_setting('role') AS role, coalesce(pg_catalog.current_setting('precog.backtest_run', true), '') AS run`;
  const { rows: [before] } = await control<{ role: string; run: string }>(held, call, saved);
  await control(held, call, setup);
  const result = await body();
  // A run scope entered its run (precog_enter_backtest_run): the caller's run, or none, is entered
  // again while the scope's role (precog_backtest, which may) is still in force.
  if (setup.includes('precog_enter_backtest_run')) {
    await control(held, call, { text: `SELECT public.precog_enter_backtest_run(NULLIF($1, '')::bigint)`, values: [before!.run] });
  }
  await control(held, call, {
    text: `SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('precog.backtest_run', $2, true)`,
    values: [before!.role, before!.run],
  });
  return result;
}

async function transactionOn<T>(
  held: HeldClient,
  call: CallContext,
  begin: string,
  commit: string,
  rollback: string,
  body: (client: HeldClient) => Promise<T>,
): Promise<T> {
  const topLevel = commit === 'COMMIT';
  await control(held, call, begin);
  if (topLevel) held.inTransaction = true;
  try {
    const result = await body(held);
    const done = await control(held, call, commit);
    if (topLevel) {
      held.inTransaction = false;
      // COMMIT of a transaction in which a statement failed (and the body caught it) is a ROLLBACK.
      if (done.command === 'ROLLBACK') {
        throw new DatabaseError(
          `${call.name} (${call.file}) was rolled back, not committed: a statement in the transaction failed and the error was caught. Nothing was committed.`,
          { code: '25P02' },
          call,
        );
      }
    }
    return result;
  } catch (error) {
    if (held.lost === undefined) {
      await held.query({ text: rollback }).then(
        () => {
          if (topLevel) held.inTransaction = false;
        },
        () => {
          held.broken = true;
        },
      );
    }
    throw error;
  }
}

/** BEGIN, SET LOCAL ROLE, SAVEPOINT, COMMIT: their failures are typed like a query's, named after the call. */
export async function control<R extends QueryResultRow = QueryResultRow>(
  held: HeldClient,
  call: CallContext,
  statement: string | { text: string; values?: unknown[] },
): Promise<{ rows: R[]; command?: string }> {
  try {
    return await held.query<R>(typeof statement === 'string' ? { text: statement } : statement);
  } catch (error) {
    throw toDatabaseError(error, { ...call, readOnly: true });
  }
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

/** precogDb's `retryConnectionFailures` option. */
export interface ConnectionRetryPolicy {
  /** Attempts in all, the first included (2 or more to retry at all). */
  attempts: number;
  /** Wait before the first retry, doubled each time, with jitter. Default 100 ms. */
  backoffMs?: number;
  /** Longest wait between two attempts. Default 2,000 ms. */
  maxBackoffMs?: number;
}

/**
 * Runs `work` again after a transient connection failure, when `safe` says the failure left
 * nothing behind: a ConnectionFailedError (nothing was sent), or a ConnectionLostError of a call
 * that is safe to repeat. Never after an OutcomeUnknownError, never once the call's deadline
 * has passed or would pass during the wait. Bounded: `attempts` in all.
 */
export async function retryingConnectionFailures<T>(
  policy: ConnectionRetryPolicy | undefined,
  safe: (error: ConnectionLostError) => boolean,
  work: () => Promise<T>,
  deadline?: Deadline,
): Promise<T> {
  if (!policy || policy.attempts <= 1) return work();
  const base = policy.backoffMs ?? 100;
  const max = policy.maxBackoffMs ?? 2_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const retryable =
        ((error instanceof ConnectionFailedError && error.transient) || (error instanceof ConnectionLostError && safe(error))) && error.deadlineMs === undefined;
      if (!retryable || attempt >= policy.attempts) throw error;
      const wait = Math.min(max, base * 2 ** (attempt - 1));
      const pause = wait / 2 + Math.random() * (wait / 2);
      if (deadline && pause >= deadline.remaining()) throw error;
      await sleep(pause);
    }
  }
}

/**
 * Whether one client given to precogDb() is inside a transaction: there now() is the
 * transaction's start, earlier than this statement's; outside, each statement is its own.
 */
async function insideTransaction(client: HeldClient, call: CallContext): Promise<boolean> {
  const { rows } = (await control(client, call, 'SELECT now() <> statement_timestamp() AS inside')) as { rows: { inside: boolean }[] };
  return rows[0]!.inside;
}
