/**
 * Waiting for a backend to wait on a lock: how a test knows a race really happened (the second
 * session is blocked behind the first) before it lets the first go on. It polls a state, never
 * sleeps a duration as a proof.
 */
import type pg from 'pg';

type Queryable = Pick<pg.ClientBase, 'query'>;

export interface LockWaiter {
  /** That backend. */
  pid?: number;
  /** Or a backend of that application (application_name), */
  application?: string;
  /** other than this one, */
  except?: number;
  /** running exactly this statement. */
  query?: string;
}

/** The pid of the backend matching `waiter` once it waits on a lock; fails after about 15 s. */
export async function waitForLockWait(observer: Queryable, waiter: LockWaiter): Promise<number> {
  for (let attempt = 0; attempt < 750; attempt++) {
    const { rows } = await observer.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND ($1::int IS NULL OR pid = $1) AND ($2::text IS NULL OR application_name = $2)
          AND pid IS DISTINCT FROM $3 AND ($4::text IS NULL OR query = $4)
        ORDER BY pid LIMIT 1`,
      [waiter.pid ?? null, waiter.application ?? null, waiter.except ?? null, waiter.query ?? null],
    );
    if (rows[0]) return rows[0].pid;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no backend ${JSON.stringify(waiter)} ever waited on a lock`);
}
