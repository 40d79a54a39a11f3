/**
 * The client-side deadline of a call (precogDb's `deadlineMs`): a point in time after which the
 * call answers, whatever sits between it and the database. A server-side `statement_timeout`
 * cannot bound a statement waiting in a pooler's queue for a server that is down; this can.
 *
 * One Deadline covers a whole public call, its retries included; the client held for the call
 * (src/connection/connections.ts) enforces it: it stops waiting, sends a cancel request and closes the
 * connection, and the call rejects with a class that says whether anything may have committed.
 */
import { ConfigurationError } from '../runtime/errors.js';
import { DeadlineExceeded } from '../runtime/database-errors.js';

/** precog-db's default `deadlineMs`: longer than any call of a healthy trading process, shorter than a trader's patience. */
export const DEFAULT_DEADLINE_MS = 15_000;

export class Deadline {
  private readonly at: number;
  constructor(readonly ms: number) {
    this.at = performance.now() + ms;
  }

  /** Milliseconds left (0 once passed). */
  remaining(): number {
    return Math.max(0, this.at - performance.now());
  }

  exceeded(): DeadlineExceeded {
    return new DeadlineExceeded(this.ms);
  }
}

/** A deadline for a call of `ms` milliseconds; none for `Infinity`. */
export function deadlineOf(ms: number): Deadline | undefined {
  return ms === Infinity ? undefined : new Deadline(ms);
}

/** Checks a `deadlineMs` option: a positive number of milliseconds, or Infinity for none. */
export function checkDeadlineMs(where: string, ms: unknown): number | undefined {
  if (ms === undefined) return undefined;
  if (ms === Infinity) return ms;
  // setTimeout's longest delay: 2^31 - 1 ms (24.8 days).
  if (typeof ms !== 'number' || !(ms > 0) || ms > 2_147_483_647) {
    throw new ConfigurationError([
      `${where}: deadlineMs must be a positive number of milliseconds (at most 2147483647), or Infinity for no deadline; got ${String(ms)}.`,
    ]);
  }
  return ms;
}
