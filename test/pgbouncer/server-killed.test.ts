/**
 * Issue 26: through PgBouncer (transaction pooling, with the settings README's Deploying section
 * gives), the PostgreSQL server behind it is killed (SIGKILL) and restarted while scoped writes,
 * SCD writers, transactions and reads run. Every call settles within its deadline; each failure
 * says exactly what happened (checked against the rows: "nothing committed" means the row is not
 * there); a call that lived wholly while the server was dead never reached a server, so it is
 * never OutcomeUnknownError; and calls succeed again soon after the restart.
 *
 * Then the deadline itself, through PgBouncer: statements held on a lock, a pool with no free
 * client, and PgBouncer's own query_wait_timeout.
 *
 * It runs on a server of its own (the shared test server must never be killed). The figures
 * (calls, longest call, recovery, counts by class) are printed, not asserted beyond the bounds
 * the feature promises: `npx vitest run test/pgbouncer/server-killed.test.ts`.
 */
import { migrate } from 'graphile-migrate';
import { clearAllPools } from 'graphile-migrate/dist/pgReal.js';
import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionFailedError, ConnectionLostError, Decimal, OutcomeUnknownError, precogDb } from '../../src/index.js';
import { quietLogger } from '../../src/migrations/logger.js';
import { migrateSettings } from '../../src/migrations/settings.js';
import type { ServerTarget } from '../../src/server/connection-string.js';
import { ensureDatabase } from '../../src/server/resolve.js';
import { DEFAULT_DEADLINE_MS } from '../../src/connection/deadline.js';
import { PGBOUNCER_SETTINGS, pgbouncerBinary, startPgBouncer, type PgBouncer } from '../support/pgbouncer.js';
import { startThrowawayServer, type ThrowawayServer } from '../support/throwaway-server.js';

const DATABASE = 'precog_pgbouncer_faults';
const POOL_SIZE = 4; // PgBouncer's server connections
const WORKERS = 8;
/** Timers fire late on a loaded machine: a call settles within its deadline plus this. */
const TIMER_LAG_MS = 3_000;
/** How long the server stays dead: shorter than query_wait_timeout (queued calls wait it out), then longer. */
const OUTAGES_MS = [1_000, Number(PGBOUNCER_SETTINGS.query_wait_timeout) * 1_000 + 3_000];
/** README (Deploying): trading resumes within about a second of the server's return; the suite fails only past this. */
const RECOVERY_BOUND_MS = 5_000;

const d = (value: string) => new Decimal(value);

let throwaway: ThrowawayServer | undefined;
let bouncer: PgBouncer | undefined;
let skipped: string | undefined;
let direct: ServerTarget;

beforeAll(async () => {
  if (!pgbouncerBinary()) {
    skipped = 'pgbouncer is not installed (Debian: apt-get install -y pgbouncer)';
    if (process.env.PRECOG_REQUIRE_PGBOUNCER === '1') throw new Error(`PgBouncer is required (PRECOG_REQUIRE_PGBOUNCER=1): ${skipped}`);
    console.warn(`PgBouncer fault suite skipped: ${skipped}`);
    return;
  }
  throwaway = await startThrowawayServer();
  direct = throwaway.server;
  await ensureDatabase(direct, DATABASE);
  await migrate({ ...migrateSettings(direct, DATABASE), logger: quietLogger });
  // graphile-migrate keeps an idle pool whose 'error' handler calls process.exit(1): end it before the kill.
  clearAllPools();
  const started = await startPgBouncer(direct, POOL_SIZE);
  if (typeof started === 'string') throw new Error(`PgBouncer did not start: ${started}`);
  bouncer = started;
}, 180_000);

afterAll(async () => {
  if (bouncer && !bouncer.running()) console.error(`PgBouncer exited; its log:\n${bouncer.log()}`);
  if (process.env.PRECOG_PGBOUNCER_LOG === '1') console.error(bouncer?.log());
  await bouncer?.stop();
  throwaway?.destroy();
});

/** A pool through PgBouncer; its idle connections' errors are expected here. */
function bouncerPool(max: number): pg.Pool {
  const { host, port, user, password } = bouncer!.server;
  const pool = new pg.Pool({ host, port, user, password, database: DATABASE, max });
  pool.on('error', () => undefined);
  return pool;
}

async function directQuery<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ ...direct, database: DATABASE });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

type Kind = 'lone-write' | 'scd-write' | 'transaction' | 'read';
const KINDS: Kind[] = ['lone-write', 'scd-write', 'transaction', 'read'];

interface Call {
  kind: Kind;
  start: number;
  end?: number;
  /** 'ok', or the error's class (with its reason for ConnectionFailedError). */
  outcome?: string;
  error?: unknown;
  /** What it wrote: the market id of a new position, or the SCD version's key and price. */
  market?: string;
  key?: string;
  price?: string;
}

const outcomeOf = (error: unknown) =>
  error instanceof ConnectionFailedError ? `ConnectionFailedError(${error.reason})` : ((error as Error)?.name ?? String(error));

describe('the server behind PgBouncer is killed and restarted under load', () => {
  it('every call settles within its deadline, says exactly what happened, and trading resumes', { timeout: 240_000 }, async ({ skip }) => {
    if (skipped) skip(skipped);
    const pool = bouncerPool(WORKERS);
    const paper = precogDb(pool).scope('paper', { api: 'demo' });
    const keys: string[] = [];
    for (let i = 0; i < 4; i++) {
      keys.push((await paper.openPosition({ market_id: `MKT-PGB-SCD${i}`, side: 'YES', entry_price: d('0.40'), quantity: 1, fees: d('0') })).position_key);
    }

    const calls: Call[] = [];
    let counter = 0;
    let repricings = 0;
    let stopping = false;
    const run = async (kind: Kind, worker: number): Promise<void> => {
      const n = ++counter;
      const call: Call = { kind, start: performance.now() };
      calls.push(call);
      try {
        if (kind === 'lone-write') {
          call.market = `MKT-PGB-L${n}`;
          await paper.openPosition({ market_id: call.market, side: 'YES', entry_price: d('0.40'), quantity: 1, fees: d('0') });
        } else if (kind === 'scd-write') {
          // A price no other call writes (0.0001 to 0.9999), so its version can be looked up.
          call.key = keys[worker % keys.length]!;
          call.price = d(String(++repricings)).div(10_000).toFixed(4);
          await paper.updatePositionPrice({ position_key: call.key as never, current_price: d(call.price) });
        } else if (kind === 'transaction') {
          call.market = `MKT-PGB-T${n}`;
          await paper.transaction(async (tx) => {
            const opened = await tx.openPosition({ market_id: call.market!, side: 'NO', entry_price: d('0.30'), quantity: 2, fees: d('0') });
            await tx.updatePositionPrice({ position_key: opened.position_key, current_price: d('0.35') });
          });
        } else {
          await paper.getPositionByKey({ position_key: keys[0] as never });
        }
        call.outcome = 'ok';
      } catch (error) {
        call.outcome = outcomeOf(error);
        call.error = error;
      } finally {
        call.end = performance.now();
      }
      // A refused call comes back at once: a trading loop pauses before the next, so does this one.
      if (call.outcome !== 'ok') await sleep(50);
    };
    const workers = Array.from({ length: WORKERS }, async (_, worker) => {
      for (let i = 0; !stopping; i++) await run(KINDS[(worker + i) % KINDS.length]!, worker);
    });

    const outages: { killed: number; restarting: number; restarted: number; recoveryMs?: number }[] = [];
    const firstSuccessAfter = async (at: number) => {
      for (let i = 0; i < 3_000; i++) {
        const ok = calls.filter((call) => call.outcome === 'ok' && call.end! >= at).map((call) => call.end!);
        if (ok.length) return Math.min(...ok);
        await sleep(10);
      }
      return undefined;
    };
    await sleep(1_000);
    for (const outage of OUTAGES_MS) {
      await throwaway!.kill();
      const killed = performance.now();
      await sleep(outage);
      const restarting = performance.now();
      // Recovery counts from the moment the server accepts connections again (a direct login succeeds).
      let accepting: number | undefined;
      const probing = (async () => {
        for (let i = 0; i < 6_000 && accepting === undefined; i++) {
          accepting = await directQuery('SELECT 1').then(() => performance.now(), () => undefined);
          if (accepting === undefined) await sleep(10);
        }
      })();
      await throwaway!.restart();
      await probing;
      const restarted = accepting ?? performance.now();
      const success = await firstSuccessAfter(restarted);
      outages.push({ killed, restarting, restarted, recoveryMs: success === undefined ? undefined : success - restarted });
      await sleep(1_500);
    }
    stopping = true;
    await Promise.all(workers);
    await pool.end();

    // The figures first, so that a failure shows them too.
    const longest = Math.max(...calls.map((call) => (call.end ?? performance.now()) - call.start));
    const whileDead = calls.filter((call) => call.end !== undefined && outages.some((o) => call.start >= o.killed && call.end! <= o.restarting));
    const byClass: Record<string, number> = {};
    for (const call of calls) byClass[call.outcome!] = (byClass[call.outcome!] ?? 0) + 1;
    const ms = (value: number) => Math.round(value);
    console.log(
      `PgBouncer fault figures: ${JSON.stringify({
        settings: PGBOUNCER_SETTINGS,
        calls: calls.length,
        settled: calls.filter((call) => call.end !== undefined).length,
        longestCallMs: ms(longest),
        deadlineMs: DEFAULT_DEADLINE_MS,
        outages: outages.map((o) => ({ deadMs: ms(o.restarting - o.killed), restartMs: ms(o.restarted - o.restarting), recoveryMs: o.recoveryMs && ms(o.recoveryMs) })),
        byClass,
        whileDead: { calls: whileDead.length, outcomeUnknown: whileDead.filter((call) => call.error instanceof OutcomeUnknownError).length },
        outcomeUnknownByKind: Object.fromEntries(KINDS.map((kind) => [kind, calls.filter((c) => c.kind === kind && c.error instanceof OutcomeUnknownError).length])),
      })}`,
    );

    // Every call settled, within its deadline.
    expect(calls.every((call) => call.end !== undefined)).toBe(true);
    expect(longest).toBeLessThanOrEqual(DEFAULT_DEADLINE_MS + TIMER_LAG_MS);

    // Every failure is a connection class: nothing else (no untyped error, no constraint, no stray conflict).
    const failures = calls.filter((call) => call.outcome !== 'ok');
    const unexpected = failures.filter(
      (call) => !(call.error instanceof ConnectionFailedError || call.error instanceof ConnectionLostError || call.error instanceof OutcomeUnknownError),
    );
    expect(unexpected.map((call) => `${call.kind}: ${String(call.error)}`)).toEqual([]);

    // A call that began after the kill and ended before the restart began never reached a server.
    expect(whileDead.length).toBeGreaterThan(0);
    expect(whileDead.filter((call) => call.outcome === 'ok')).toEqual([]);
    expect(whileDead.filter((call) => call.error instanceof OutcomeUnknownError).map((call) => `${call.kind}: ${String(call.error)}`)).toEqual([]);
    // PgBouncer's own refusals were met, and typed as such: its queue timed out, and its login kept failing.
    const pooler = failures.filter((call) => call.error instanceof ConnectionFailedError && call.error.reason === 'pooler');
    expect(pooler.some((call) => /query_wait_timeout/.test(String(call.error)))).toBe(true);
    expect(pooler.some((call) => /server login has been failing/.test(String(call.error)))).toBe(true);

    // What each class says is true of the rows: "nothing committed" means nothing is there.
    const positions = await directQuery<{ market_id: string; versions: number }>(
      `SELECT market_id, count(*)::int AS versions FROM positions WHERE market_id LIKE 'MKT-PGB-%' GROUP BY market_id`,
    );
    const versionsOf = new Map(positions.map((row) => [row.market_id, row.versions]));
    const prices = await directQuery<{ key: string; price: string }>(
      `SELECT position_key AS key, current_price::text AS price FROM positions WHERE position_key = ANY($1)`,
      [keys],
    );
    const priced = new Set(prices.map((row) => `${row.key}@${row.price}`));
    const wrong: string[] = [];
    for (const call of calls.filter((c) => c.kind !== 'read')) {
      const found = call.kind === 'scd-write' ? (priced.has(`${call.key}@${call.price}`) ? 1 : 0) : (versionsOf.get(call.market!) ?? 0);
      const whole = call.kind === 'transaction' ? 2 : 1; // a transaction's position: opened, then repriced
      const allowed = call.outcome === 'ok' ? [whole] : call.error instanceof OutcomeUnknownError ? [0, whole] : [0];
      if (!allowed.includes(found)) wrong.push(`${call.kind} ${call.market ?? call.price} ${call.outcome}: ${found} row(s)`);
    }
    expect(wrong).toEqual([]);
    expect(repricings).toBeLessThan(10_000); // the SCD prices stayed unique

    // Trading resumed after each restart.
    for (const outage of outages) {
      expect(outage.recoveryMs).toBeDefined();
      expect(outage.recoveryMs!).toBeLessThanOrEqual(RECOVERY_BOUND_MS);
    }

  });
});

/** The call's error (or undefined) and how long it took. */
async function timed(work: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const start = performance.now();
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - start };
}

/** Waits until no backend of the database waits on a lock: the cancel requests sent at the deadline reached the server. */
async function noLockWaiters(): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const [row] = await directQuery<{ waiting: number }>(
      `SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`,
      [DATABASE],
    );
    if (row!.waiting === 0) return;
    await sleep(20);
  }
  throw new Error('a statement given up at its deadline still waits on its lock: the cancel request did not reach the server');
}

async function marketRows(market: string): Promise<number> {
  const [row] = await directQuery<{ n: number }>(`SELECT count(*)::int AS n FROM positions WHERE market_id = $1`, [market]);
  return row!.n;
}

describe('the deadline, through PgBouncer', () => {
  // Long enough for a loaded machine to send what the tests hold on a lock; the pool's connections are opened first.
  const DEADLINE = 2_000;
  const position = (market: string) => ({ market_id: market, side: 'YES', entry_price: d('0.40'), quantity: 1, fees: d('0') }) as const;

  it('statements held on a lock answer at the deadline, typed by what may have committed; the cancel reaches the server', { timeout: 120_000 }, async ({ skip }) => {
    if (skipped) skip(skipped);
    const pool = bouncerPool(4);
    const paper = precogDb(pool, { deadlineMs: DEADLINE }).scope('paper', { api: 'demo' });
    const key = (await paper.openPosition(position('MKT-PGB-DL0'))).position_key;
    await Promise.all([paper.listOpenPositions(), paper.listOpenPositions()]);
    const locker = new pg.Client({ ...direct, database: DATABASE });
    await locker.connect();
    try {
      // The table locked: a read and a lone write (its own commit) wait.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE positions IN ACCESS EXCLUSIVE MODE');
      const [read, write] = await Promise.all([timed(paper.getPositionByKey({ position_key: key })), timed(paper.openPosition(position('MKT-PGB-DL1')))]);
      expect(read.error).toBeInstanceOf(ConnectionLostError);
      expect(write.error).toBeInstanceOf(OutcomeUnknownError);
      for (const { error, ms } of [read, write]) {
        expect((error as ConnectionLostError).deadlineMs).toBe(DEADLINE);
        expect(String(error)).toMatch(new RegExp(`ran past its deadline of ${DEADLINE} ms \\(deadlineMs\\) at 127\\.0\\.0\\.1:\\d+/precog_pgbouncer_faults`));
        expect(ms).toBeLessThanOrEqual(DEADLINE + TIMER_LAG_MS);
      }
      await noLockWaiters();
      await locker.query('COMMIT');
      expect(await marketRows('MKT-PGB-DL1')).toBe(0); // cancelled: the unknown outcome turned out "not committed"

      // One position's row locked: a transaction's second statement waits, and so does a lone SCD write.
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM positions WHERE position_key = $1 AND row_current_ind FOR UPDATE`, [key]);
      const [transaction, scd] = await Promise.all([
        timed(
          paper.transaction(async (tx) => {
            await tx.openPosition(position('MKT-PGB-DL2'));
            await tx.updatePositionPrice({ position_key: key, current_price: d('0.66') });
          }),
        ),
        timed(paper.updatePositionPrice({ position_key: key, current_price: d('0.77') })),
      ]);
      for (const { error, ms } of [transaction, scd]) {
        expect(error, String(error)).toBeInstanceOf(ConnectionLostError); // before COMMIT: nothing committed
        expect((error as ConnectionLostError).deadlineMs).toBe(DEADLINE);
        expect(ms).toBeLessThanOrEqual(DEADLINE + TIMER_LAG_MS);
      }
      await noLockWaiters();
      await locker.query('COMMIT');
      expect(await marketRows('MKT-PGB-DL2')).toBe(0);
      const versions = await directQuery<{ price: string }>(`SELECT current_price::text AS price FROM positions WHERE position_key = $1`, [key]);
      expect(versions.map((row) => row.price)).toEqual(['0.4000']);

      // The same calls run again once nothing holds them up.
      expect((await paper.getPositionByKey({ position_key: key }))?.position_key).toBe(key);
    } finally {
      await locker.end();
      await pool.end();
    }
  });

  it('no client free in the pool until the deadline: ConnectionFailedError, reason deadline, nothing sent', { timeout: 60_000 }, async ({ skip }) => {
    if (skipped) skip(skipped);
    const pool = bouncerPool(1);
    const paper = precogDb(pool, { deadlineMs: DEADLINE }).scope('paper', { api: 'demo' });
    const held = await pool.connect();
    try {
      const [read, write] = await Promise.all([timed(paper.listOpenPositions()), timed(paper.openPosition(position('MKT-PGB-DL3')))]);
      for (const { error, ms } of [read, write]) {
        expect(error).toBeInstanceOf(ConnectionFailedError);
        expect((error as ConnectionFailedError).reason).toBe('deadline');
        expect((error as ConnectionFailedError).transient).toBe(true);
        expect(ms).toBeLessThanOrEqual(DEADLINE + TIMER_LAG_MS);
      }
    } finally {
      held.release();
    }
    // The clients that came after the deadline went back to the pool: it serves again.
    expect(await paper.openPosition(position('MKT-PGB-DL4'))).toBeDefined();
    await pool.end();
    expect(await marketRows('MKT-PGB-DL3')).toBe(0);
  });

  it("PgBouncer's query_wait_timeout (every server connection busy): ConnectionFailedError, reason pooler, for writes too", { timeout: 60_000 }, async ({ skip }) => {
    if (skipped) skip(skipped);
    const holders = bouncerPool(POOL_SIZE);
    const pool = bouncerPool(4);
    const paper = precogDb(pool).scope('paper', { api: 'demo' });
    const key = (await paper.openPosition(position('MKT-PGB-Q0'))).position_key;
    // Transaction pooling: a client in a transaction keeps its server connection; these take them all.
    const busy = await Promise.all(Array.from({ length: POOL_SIZE }, () => holders.connect()));
    try {
      for (const client of busy) await client.query('BEGIN; SELECT 1');
      const calls = await Promise.all([
        timed(paper.openPosition(position('MKT-PGB-Q1'))),
        timed(paper.updatePositionPrice({ position_key: key, current_price: d('0.88') })),
        timed(paper.transaction((tx) => tx.openPosition(position('MKT-PGB-Q2')))),
        timed(paper.getPositionByKey({ position_key: key })),
      ]);
      for (const { error, ms } of calls) {
        expect(error, String(error)).toBeInstanceOf(ConnectionFailedError);
        expect((error as ConnectionFailedError).reason).toBe('pooler');
        expect(String(error)).toMatch(/got no server connection from the pooler at 127\.0\.0\.1:\d+\/precog_pgbouncer_faults: query_wait_timeout\. Nothing reached the database server/);
        expect(ms).toBeLessThanOrEqual(DEFAULT_DEADLINE_MS + TIMER_LAG_MS);
      }
    } finally {
      for (const client of busy) {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release();
      }
      await holders.end();
      await pool.end();
    }
    expect(await marketRows('MKT-PGB-Q1')).toBe(0);
    expect(await marketRows('MKT-PGB-Q2')).toBe(0);
  });
});
