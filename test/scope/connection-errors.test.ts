/**
 * Issue 15: how each connection fault reaches the caller of the public API, each one caused for
 * real: real PostgreSQL servers, real pg pools, real sockets. A statement is made to wait on a
 * lock held from a side connection (observed in pg_stat_activity, never by sleeping), then it is
 * cancelled or its backend terminated; logins with a connection limit or timeouts are created
 * for the test; a TCP proxy in front of the server counts connection attempts or cuts the
 * connection when a given statement is sent; a throwaway server is shut down while calls wait.
 * test/database/faults-typed.test.ts does the same under a concurrent workload.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { migrate } from 'graphile-migrate';
import { clearAllPools } from 'graphile-migrate/dist/pgReal.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  ConnectionFailedError,
  ConnectionLostError,
  ConstraintViolationError,
  DatabaseError,
  Decimal,
  OutcomeUnknownError,
  precogDb,
  QueryCancelledError,
  RetryableConflictError,
  StatementTimeoutError,
} from 'precog-db';
import { quietLogger } from '../../src/migrations/logger.js';
import { migrateSettings } from '../../src/migrations/settings.js';
import type { ServerTarget } from '../../src/server/connection-string.js';
import { ensureDatabase } from '../../src/server/resolve.js';
import { testServer, withFreshDatabase } from '../support/db.js';
import { waitForLockWait } from '../support/lock-wait.js';
import { startThrowawayServer, type ThrowawayServer } from '../support/throwaway-server.js';

const position = { market_id: 'MKT-CONN-ERRORS', side: 'YES' as const, entry_price: new Decimal('0.5'), quantity: 1, fees: new Decimal('0') };
const fill = (order_id: string) => ({
  market_id: 'MKT-CONN-ERRORS',
  order_id,
  side: 'buy' as const,
  price: new Decimal('0.5'),
  quantity: 1,
  fees: new Decimal('0'),
  trade_source: 'manual' as const,
  order_type: 'limit' as const,
});
const PASSWORD = 's3cret-pw';

/** Polls `condition` (every 20 ms, 15 s at most): waits on a state, never on a duration. */
async function waitFor(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 750; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A pool of the application, named so that its backends can be found in pg_stat_activity. */
function appPool(database: string, options: pg.PoolConfig = {}, server: ServerTarget = testServer()) {
  const app = `precog_ce_${randomBytes(4).toString('hex')}`;
  const { host, port, user, password } = server;
  const pool = new pg.Pool({ host, port, user, password, database, max: 1, application_name: app, ...options });
  const acquired = { count: 0 };
  pool.on('acquire', () => acquired.count++);
  return { pool, app, acquired };
}

/** The pid of the application's backend that waits on a lock (other than `except`). */
const waitingBackend = (side: pg.Pool, app: string, except?: number, query?: string): Promise<number> =>
  waitForLockWait(side, { application: app, except, query });

/**
 * What `pending` (a call whose backend `first` was just terminated) settles to, or, if a new
 * attempt of it waits on the lock instead (the call was run again), an error saying so.
 */
async function settledWithoutRetry(pending: Promise<unknown>, side: pg.Pool, app: string, first: number): Promise<unknown> {
  let settled = false;
  let value: unknown;
  void pending.then((result) => {
    settled = true;
    value = result;
  });
  await waitFor('the call to settle', async () => {
    if (settled) return true;
    const { rows } = await side.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND pid <> $2`, [app, first]);
    return settled || rows.length > 0;
  });
  return settled ? value : new Error('the call was run again: a new attempt waits on the lock');
}

async function backendsOf(side: pg.Pool, app: string): Promise<number[]> {
  const { rows } = await side.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid`, [app]);
  return rows.map((row) => row.pid);
}

const terminate = (side: pg.Pool, pid: number) => side.query('SELECT pg_terminate_backend($1)', [pid]);

/** A transaction on a side connection holding `lock` (a LOCK TABLE or a SELECT ... FOR UPDATE) until released. */
async function hold(side: pg.Pool, lock: string, params: unknown[] = []): Promise<() => Promise<void>> {
  const client = await side.connect();
  await client.query('BEGIN');
  await client.query(lock, params);
  return async () => {
    await client.query('ROLLBACK');
    client.release();
  };
}

/** A login of the paper environment, with `clause` (CONNECTION LIMIT 1) and per-role settings. Dropped by `drop`. */
async function paperLogin(side: pg.Pool, clause = '', settings: Record<string, string> = {}) {
  const user = `precog_test_ce_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await side.query(`CREATE ROLE ${user} LOGIN PASSWORD '${password}' IN ROLE precog_paper ${clause}`);
  for (const [name, value] of Object.entries(settings)) await side.query(`ALTER ROLE ${user} SET ${name} = '${value}'`);
  return { user, password, drop: () => side.query(`DROP ROLE IF EXISTS ${user}`) };
}

/** A free port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * A real TCP proxy in front of the server, counting connections. For connection n, `plan(n)` says:
 * `close` (accept and close at once: the server went away), `silent` (accept and never answer),
 * `forward`, or a pattern: forward until the client sends a chunk matching it, then cut both sockets.
 */
async function tcpProxy(server: ServerTarget, plan: (n: number) => 'close' | 'silent' | 'forward' | RegExp) {
  const sockets = new Set<net.Socket>();
  const proxy = { port: 0, connections: 0, cuts: 0, close: async () => {} };
  const listener = net.createServer((client) => {
    const what = plan(++proxy.connections);
    sockets.add(client);
    client.on('error', () => undefined);
    if (what === 'close') return void client.destroy();
    if (what === 'silent') return;
    const upstream = net.connect(server.port, server.host);
    sockets.add(upstream);
    upstream.on('error', () => undefined);
    client.on('data', (chunk) => {
      if (what instanceof RegExp && what.test(chunk.toString('latin1'))) {
        proxy.cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  proxy.port = (listener.address() as net.AddressInfo).port;
  proxy.close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => listener.close(resolve));
  };
  return proxy;
}
/** A simple-protocol Query message whose text starts with `statement` (BEGIN, COMMIT). */
const queryMessage = (statement: string) => new RegExp(`Q[\\s\\S]{4}${statement}`);

/** Listens for 'uncaughtException' and 'unhandledRejection' while `body` runs; returns what was heard. */
async function crashesDuring(body: (heard: unknown[]) => Promise<void>): Promise<unknown[]> {
  const heard: unknown[] = [];
  const listener = (error: unknown) => heard.push(error);
  process.on('uncaughtException', listener);
  process.on('unhandledRejection', listener);
  try {
    await body(heard);
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('uncaughtException', listener);
    process.off('unhandledRejection', listener);
  }
  return heard;
}

function expectNamesServer(error: unknown, host: string, port: number, database: string) {
  const failed = error as ConnectionFailedError;
  expect([failed.host, failed.port, failed.database]).toEqual([host, port, database]);
  expect(failed.message).toContain(`${host}:${port}/${database}`);
  expect(failed.message).not.toContain(PASSWORD);
}

describe('cannot connect: ConnectionFailedError naming host, port and database, never the password', () => {
  it('refused (nothing listens on the port): every public path, reason refused, transient', async () => {
    const port = await closedPort();
    const pool = new pg.Pool({ connectionString: `postgres://trader:${PASSWORD}@127.0.0.1:${port}/precog_prod` });
    try {
      for (const db of [precogDb(pool), precogDb(pool, { environmentRoles: true })]) {
        for (const [name, call] of [
          ['listOpenPositions', () => db.scope('paper', { api: 'demo' }).listOpenPositions()],
          ['openPosition', () => db.scope('paper', { api: 'demo' }).openPosition(position)],
          ['transaction', () => db.scope('paper', { api: 'demo' }).transaction(async () => undefined)],
          ['getCurrentMarketByTicker', () => db.shared.getCurrentMarketByTicker({ ticker: 'X' })],
        ] as const) {
          const failure = (await call().catch((e: unknown) => e)) as ConnectionFailedError;
          expect(failure, name).toBeInstanceOf(ConnectionFailedError);
          expect([failure.reason, failure.transient, failure.query]).toEqual(['refused', true, name]);
          expect(failure.message).toContain(`could not connect to 127.0.0.1:${port}/precog_prod`);
          expect(failure.message).not.toMatch(/lost its connection/);
          expectNamesServer(failure, '127.0.0.1', port, 'precog_prod');
        }
      }
    } finally {
      await pool.end();
    }
  });

  it('authentication (a wrong password) and an unknown database: not transient', async () => {
    const { host, port, user } = testServer();
    const wrong = new pg.Pool({ host, port, user, password: PASSWORD, database: 'postgres' });
    const missing = new pg.Pool({ ...testServer(), database: 'precog_no_such_database' });
    try {
      const auth = (await precogDb(wrong).scope('paper', { api: 'demo' }).listOpenPositions().catch((e: unknown) => e)) as ConnectionFailedError;
      expect(auth).toBeInstanceOf(ConnectionFailedError);
      expect([auth.reason, auth.transient, auth.code]).toEqual(['authentication', false, '28P01']);
      expectNamesServer(auth, host, port, 'postgres');
      const unknown = (await precogDb(missing).shared.getCurrentMarketByTicker({ ticker: 'X' }).catch((e: unknown) => e)) as ConnectionFailedError;
      expect(unknown).toBeInstanceOf(ConnectionFailedError);
      expect([unknown.reason, unknown.transient, unknown.code]).toEqual(['unknown-database', false, '3D000']);
      expectNamesServer(unknown, host, port, 'precog_no_such_database');
    } finally {
      await wrong.end();
      await missing.end();
    }
  });

  it('too many connections (a login with CONNECTION LIMIT 1 already connected): 53300, transient', async () => {
    await withFreshDatabase(async (database, side) => {
      const login = await paperLogin(side, 'CONNECTION LIMIT 1');
      const { host, port } = testServer();
      const held = new pg.Client({ host, port, database, user: login.user, password: login.password });
      const pool = new pg.Pool({ host, port, database, user: login.user, password: login.password, max: 1 });
      try {
        await held.connect();
        const failure = (await precogDb(pool).scope('paper', { api: 'demo' }).listOpenPositions().catch((e: unknown) => e)) as ConnectionFailedError;
        expect(failure).toBeInstanceOf(ConnectionFailedError);
        expect([failure.reason, failure.transient, failure.code]).toEqual(['too-many-connections', true, '53300']);
        expectNamesServer(failure, host, port, database);
        await held.end();
        expect(await precogDb(pool).scope('paper', { api: 'demo' }).listOpenPositions()).toEqual([]); // transient indeed
      } finally {
        await held.end().catch(() => undefined);
        await pool.end();
        await login.drop();
      }
    });
  });

  it('connect timeout (a socket that accepts and never answers): reason timeout', async () => {
    const proxy = await tcpProxy(testServer(), () => 'silent');
    const pool = new pg.Pool({ host: '127.0.0.1', port: proxy.port, user: 'trader', password: PASSWORD, database: 'precog_prod', connectionTimeoutMillis: 200 });
    try {
      const failure = (await precogDb(pool).scope('paper', { api: 'demo' }).listOpenPositions().catch((e: unknown) => e)) as ConnectionFailedError;
      expect(failure).toBeInstanceOf(ConnectionFailedError);
      expect([failure.reason, failure.transient]).toEqual(['timeout', true]);
      expectNamesServer(failure, '127.0.0.1', proxy.port, 'precog_prod');
    } finally {
      await pool.end();
      await proxy.close();
    }
  });
});

describe('statements cancelled or out of time, waiting on a lock held from the side', () => {
  it('pg_cancel_backend: QueryCancelledError; nothing written, and the client is kept', async () => {
    await withFreshDatabase(async (database, side) => {
      const { pool, app } = appPool(database);
      try {
        const paper = precogDb(pool).scope('paper', { api: 'demo' });
        const opened = await paper.openPosition(position);
        const [pid] = await backendsOf(side, app);
        const release = await hold(side, 'SELECT 1 FROM positions WHERE position_key = $1 AND row_current_ind FOR UPDATE', [opened!.position_key]);
        const call = paper.updatePositionPrice({ position_key: opened!.position_key, current_price: new Decimal('0.6') }).catch((e: unknown) => e);
        await side.query('SELECT pg_cancel_backend($1)', [await waitingBackend(side, app)]);
        const failure = (await call) as QueryCancelledError;
        await release();
        expect(failure).toBeInstanceOf(QueryCancelledError);
        expect([failure.code, failure.query]).toEqual(['57014', 'updatePositionPrice']);
        const { rows } = await side.query(`SELECT count(*)::int AS n FROM positions WHERE position_key = $1`, [opened!.position_key]);
        expect(rows[0].n).toBe(1);
        // An ordinary error: after ROLLBACK the connection went back to the pool and serves the next call.
        expect(await backendsOf(side, app)).toEqual([pid]);
        expect(await paper.listOpenPositions()).toHaveLength(1);
        expect(await backendsOf(side, app)).toEqual([pid]);
      } finally {
        await pool.end();
      }
    });
  });

  for (const [setting, code] of [
    ['statement_timeout', '57014'],
    ['lock_timeout', '55P03'],
  ] as const) {
    it(`a login with ${setting} set (ALTER ROLE ... SET): StatementTimeoutError, timeout ${setting}`, async () => {
      await withFreshDatabase(async (database, side) => {
        const login = await paperLogin(side, '', { [setting]: '200ms' });
        const { host, port } = testServer();
        const pool = new pg.Pool({ host, port, database, user: login.user, password: login.password, max: 1 });
        let release: (() => Promise<void>) | undefined;
        try {
          const opened = await precogDb(side).scope('paper', { api: 'demo' }).openPosition(position);
          release = await hold(side, 'SELECT 1 FROM positions WHERE position_key = $1 AND row_current_ind FOR UPDATE', [opened!.position_key]);
          for (const db of [precogDb(pool), precogDb(pool, { environmentRoles: true })]) {
            const failure = (await db
              .scope('paper', { api: 'demo' })
              .updatePositionPrice({ position_key: opened!.position_key, current_price: new Decimal('0.6') })
              .catch((e: unknown) => e)) as StatementTimeoutError;
            expect(failure).toBeInstanceOf(StatementTimeoutError);
            expect([failure.timeout, failure.code, failure.query]).toEqual([setting, code, 'updatePositionPrice']);
          }
        } finally {
          await release?.();
          await pool.end();
          await login.drop();
        }
      });
    });
  }

  it('a repeatable-read transaction overtaken by a committed writer: RetryableConflictError (40001), client kept', async () => {
    await withFreshDatabase(async (database, side) => {
      const { pool, app } = appPool(database);
      try {
        const paper = precogDb(pool).scope('paper', { api: 'demo' });
        const opened = await paper.openPosition(position);
        const [pid] = await backendsOf(side, app);
        const failure = await paper
          .transaction(
            async (tx) => {
              await tx.listOpenPositions(); // the snapshot
              await precogDb(side).scope('paper', { api: 'demo' }).updatePositionPrice({ position_key: opened!.position_key, current_price: new Decimal('0.6') });
              await tx.updatePositionPrice({ position_key: opened!.position_key, current_price: new Decimal('0.7') });
            },
            { isolation: 'repeatable read' },
          )
          .catch((e: unknown) => e);
        expect(failure).toBeInstanceOf(RetryableConflictError);
        expect((failure as RetryableConflictError).code).toBe('40001');
        expect(pool.totalCount).toBe(1);
        expect(await backendsOf(side, app)).toEqual([pid]);
        const current = await paper.getPositionByKey({ position_key: opened!.position_key });
        expect(current!.current_price?.toFixed(4)).toBe('0.6000');
      } finally {
        await pool.end();
      }
    });
  });

  it('two transactions locking two positions in opposite orders: one RetryableConflictError (40P01), the other commits', async () => {
    await withFreshDatabase(async (database, side) => {
      const { pool, app } = appPool(database, { max: 2, options: '-c deadlock_timeout=50' });
      try {
        const paper = precogDb(pool).scope('paper', { api: 'demo' });
        const one = await paper.openPosition(position);
        const two = await paper.openPosition(position);
        const price = (p: string) => new Decimal(p);
        let firstHolds!: () => void;
        let secondHolds!: () => void;
        const firstHolding = new Promise<void>((resolve) => (firstHolds = resolve));
        const secondHolding = new Promise<void>((resolve) => (secondHolds = resolve));
        const first = paper
          .transaction(async (tx) => {
            await tx.updatePositionPrice({ position_key: one!.position_key, current_price: price('0.61') });
            firstHolds();
            await secondHolding;
            await tx.updatePositionPrice({ position_key: two!.position_key, current_price: price('0.62') });
          })
          .then(() => 'committed', (e: unknown) => e);
        const second = paper
          .transaction(async (tx) => {
            await firstHolding;
            await tx.updatePositionPrice({ position_key: two!.position_key, current_price: price('0.71') });
            secondHolds();
            await waitingBackend(side, app); // the first waits for the second's lock
            await tx.updatePositionPrice({ position_key: one!.position_key, current_price: price('0.72') });
          })
          .then(() => 'committed', (e: unknown) => e);
        const outcomes = await Promise.all([first, second]);
        const conflicts = outcomes.filter((outcome) => outcome instanceof RetryableConflictError) as RetryableConflictError[];
        expect(conflicts).toHaveLength(1);
        expect(conflicts[0]!.code).toBe('40P01');
        expect(outcomes.filter((outcome) => outcome === 'committed')).toHaveLength(1);
      } finally {
        await pool.end();
      }
    });
  });

  it('a COMMIT answered with ROLLBACK (a failed statement caught in the body) is not acknowledged: 25P02', async () => {
    await withFreshDatabase(async (database) => {
      const { pool } = appPool(database);
      try {
        const paper = precogDb(pool).scope('paper', { api: 'demo' });
        let caught: unknown;
        const failure = await paper
          .transaction(async (tx) => {
            await tx.recordTrade(fill('CE-ROLLED-BACK'));
            caught = await tx.openPosition({ ...position, entry_price: new Decimal('2') }).catch((e: unknown) => e);
          })
          .catch((e: unknown) => e);
        expect(caught).toBeInstanceOf(ConstraintViolationError);
        expect(failure).toBeInstanceOf(DatabaseError);
        expect((failure as DatabaseError).code).toBe('25P02');
        expect(await paper.listTradesByMarket({ market_id: 'MKT-CONN-ERRORS' })).toEqual([]);
      } finally {
        await pool.end();
      }
    });
  });
});

describe('the backend terminated mid-call (pg_terminate_backend while the statement waits on a lock)', () => {
  /** Runs `call` on the app pool while `lock` is held, terminates its backend once it waits, returns its error. */
  async function terminatedDuring(side: pg.Pool, app: string, lock: string, call: () => Promise<unknown>) {
    const release = await hold(side, lock);
    try {
      const pending = call().then(
        () => undefined,
        (e: unknown) => e,
      );
      await terminate(side, await waitingBackend(side, app));
      return await pending;
    } finally {
      await release();
    }
  }

  it('a read: ConnectionLostError naming the server; the broken client is discarded and the next call works', async () => {
    await withFreshDatabase(async (database, side) => {
      const { pool, app } = appPool(database);
      try {
        const paper = precogDb(pool).scope('paper', { api: 'demo' });
        await paper.openPosition(position);
        for (const db of [precogDb(pool), precogDb(pool, { environmentRoles: true })]) {
          const failure = await terminatedDuring(side, app, 'LOCK TABLE positions IN ACCESS EXCLUSIVE MODE', () =>
            db.scope('paper', { api: 'demo' }).listOpenPositions(),
          );
          expect(failure).toBeInstanceOf(ConnectionLostError);
          expect(failure).not.toBeInstanceOf(OutcomeUnknownError);
          const { host, port } = testServer();
          expect((failure as ConnectionLostError).message).toContain(`lost its connection to PostgreSQL at ${host}:${port}/${database}`);
          expect((failure as ConnectionLostError).query).toBe('listOpenPositions');
          expect(pool.totalCount).toBe(0); // released with the error: discarded, not handed out again
          expect(await paper.listOpenPositions()).toHaveLength(1);
        }
      } finally {
        await pool.end();
      }
    });
  });

  it('a lone write (its own commit) sent and lost: OutcomeUnknownError', async () => {
    await withFreshDatabase(async (database, side) => {
      const { pool, app } = appPool(database);
      try {
        const paper = precogDb(pool).scope('paper', { api: 'demo' });
        const failure = await terminatedDuring(side, app, 'LOCK TABLE trades IN ACCESS EXCLUSIVE MODE', () => paper.recordTrade(fill('CE-LONE')));
        expect(failure).toBeInstanceOf(OutcomeUnknownError);
        expect(failure).not.toBeInstanceOf(ConnectionLostError);
        expect((failure as Error).message).toMatch(/may or may not have been committed/);
        expect(pool.totalCount).toBe(0);
      } finally {
        await pool.end();
      }
    });
  });

  it("a write inside precog-db's own transaction (environmentRoles), before COMMIT: ConnectionLostError, nothing committed", async () => {
    await withFreshDatabase(async (database, side) => {
      const { pool, app } = appPool(database);
      try {
        const paper = precogDb(pool, { environmentRoles: true }).scope('paper', { api: 'demo' });
        const failure = await terminatedDuring(side, app, 'LOCK TABLE trades IN ACCESS EXCLUSIVE MODE', () => paper.recordTrade(fill('CE-IN-TX')));
        expect(failure).toBeInstanceOf(ConnectionLostError);
        expect(await paper.listTradesByMarket({ market_id: 'MKT-CONN-ERRORS' })).toEqual([]);
      } finally {
        await pool.end();
      }
    });
  });

  it("between two statements of scope.transaction: no crash, the next statement rejects with ConnectionLostError, the client is discarded", async () => {
    await withFreshDatabase(async (database, side) => {
      const { pool, app } = appPool(database);
      const clients: pg.Client[] = [];
      pool.on('connect', (client) => clients.push(client));
      try {
        const paper = precogDb(pool).scope('paper', { api: 'demo' });
        let second: unknown;
        let failure: unknown;
        const crashes = await crashesDuring(async (heard) => {
          failure = await paper
            .transaction(async (tx) => {
              await tx.recordTrade(fill('CE-BETWEEN'));
              let ended = false;
              clients[0]!.once('end', () => (ended = true));
              const [pid] = await backendsOf(side, app);
              await terminate(side, pid!);
              // The client hears the FATAL ('error': pg-pool does not listen on a client checked out, so without precog-db's listener the process would crash) and closes.
              await waitFor('the client to close (or the process to crash)', () => ended || heard.length > 0);
              second = await tx.listOpenPositions().catch((e: unknown) => e);
              throw second;
            })
            .catch((e: unknown) => e);
        });
        expect(crashes).toEqual([]);
        expect(second).toBeInstanceOf(ConnectionLostError);
        expect(failure).toBe(second);
        expect(pool.totalCount).toBe(0);
        expect(await paper.listTradesByMarket({ market_id: 'MKT-CONN-ERRORS' })).toEqual([]);
      } finally {
        await pool.end();
      }
    });
  });

  it('during COMMIT of a transaction that wrote (a deferred trigger waits at commit): OutcomeUnknownError, never retried', async () => {
    await withFreshDatabase(async (database, side) => {
      // Commit-time work that waits on an advisory lock the side holds: the COMMIT hangs, observably.
      await side.query(`
        CREATE FUNCTION precog_test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_advisory_xact_lock(7331); RETURN NULL; END $$;
        CREATE CONSTRAINT TRIGGER precog_test_slow_commit AFTER INSERT ON trades_paper
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION precog_test_slow_commit();
        CREATE CONSTRAINT TRIGGER precog_test_slow_commit AFTER INSERT ON positions_paper
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION precog_test_slow_commit();`);
      const { pool, app, acquired } = appPool(database);
      const retry = { retryConnectionFailures: { attempts: 5, backoffMs: 1 } };
      try {
        const opened = await precogDb(side).scope('paper', { api: 'demo' }).openPosition(position);
        const key = opened!.position_key;
        const cases: [string, () => Promise<unknown>][] = [
          ['scope.transaction', () => precogDb(pool, retry).scope('paper', { api: 'demo' }).transaction((tx) => tx.recordTrade(fill('CE-COMMIT')))],
          ['SCD write', () => precogDb(pool, retry).scope('paper', { api: 'demo' }).updatePositionPrice({ position_key: key, current_price: new Decimal('0.6') })],
          ['environmentRoles write', () => precogDb(pool, { ...retry, environmentRoles: true }).scope('paper', { api: 'demo' }).recordTrade(fill('CE-COMMIT-ROLES'))],
        ];
        for (const [label, call] of cases) {
          const locker = await side.connect();
          await locker.query('SELECT pg_advisory_lock(7331)');
          const before = acquired.count;
          try {
            const pending = call().then(
              () => undefined,
              (e: unknown) => e,
            );
            const pid = await waitingBackend(side, app, undefined, 'COMMIT');
            await terminate(side, pid);
            const failure = await settledWithoutRetry(pending, side, app, pid); // a retry would wait on the lock again
            expect(failure, label).toBeInstanceOf(OutcomeUnknownError);
            expect(failure, label).not.toBeInstanceOf(ConnectionLostError);
            expect((failure as OutcomeUnknownError).message, label).toMatch(/COMMIT was sent/);
            expect(acquired.count - before, label).toBe(1);
          } finally {
            await locker.query('SELECT pg_advisory_unlock(7331)');
            locker.release();
          }
        }
        // Here the commit never finished (its trigger was waiting): reconciling finds nothing.
        const { rows } = await side.query(`SELECT (SELECT count(*) FROM trades WHERE order_id LIKE 'CE-COMMIT%')::int AS trades,
                                                  (SELECT count(*) FROM positions WHERE position_key = $1)::int AS versions`, [key]);
        expect(rows[0]).toEqual({ trades: 0, versions: 1 });
      } finally {
        await pool.end();
      }
    });
  });

  it('the connection cut when COMMIT of a transaction that only read is sent: ConnectionLostError (nothing to commit)', async () => {
    await withFreshDatabase(async (database) => {
      const proxy = await tcpProxy(testServer(), (n) => (n === 1 ? queryMessage('COMMIT') : 'forward'));
      const { pool } = appPool(database, { host: '127.0.0.1', port: proxy.port });
      try {
        const failure = await precogDb(pool, { environmentRoles: true }).scope('paper', { api: 'demo' }).listOpenPositions().catch((e: unknown) => e);
        expect(proxy.cuts).toBe(1);
        expect(failure).toBeInstanceOf(ConnectionLostError);
        expect(failure).not.toBeInstanceOf(OutcomeUnknownError);
      } finally {
        await pool.end();
        await proxy.close();
      }
    });
  });
});

describe('a deadline (deadlineMs): the call answers by then, cancels what it sent, and says what may have committed', () => {
  // Long enough for a loaded machine to send what the tests hold on a lock; every connection is opened first.
  const DEADLINE = 1_000;
  /** No backend of the application waits on a lock any more: the cancel request reached the server. */
  const cancelled = (side: pg.Pool, app: string) =>
    waitFor(`no backend of ${app} waiting on a lock`, async () => {
      const { rows } = await side.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [app]);
      return rows.length === 0;
    });

  it('a lone write held on a lock: OutcomeUnknownError with deadlineMs, cancelled on the server, its client discarded; a read: ConnectionLostError', async () => {
    await withFreshDatabase(async (database, side) => {
      const { pool, app } = appPool(database, { max: 2 });
      try {
        const paper = precogDb(pool, { deadlineMs: DEADLINE }).scope('paper', { api: 'demo' });
        await Promise.all([paper.listOpenPositions(), paper.listOpenPositions()]); // both connections open
        const release = await hold(side, 'LOCK TABLE trades IN ACCESS EXCLUSIVE MODE');
        const [write, read] = await Promise.all([
          paper.recordTrade(fill('CE-DEADLINE')).catch((e: unknown) => e),
          paper.listTradesByMarket({ market_id: 'MKT-CONN-ERRORS' }).catch((e: unknown) => e),
        ]);
        await cancelled(side, app);
        await release();
        expect(write).toBeInstanceOf(OutcomeUnknownError);
        expect(read).toBeInstanceOf(ConnectionLostError);
        for (const error of [write, read] as ConnectionLostError[]) {
          expect(error.deadlineMs).toBe(DEADLINE);
          expect(error.message).toContain(`ran past its deadline of ${DEADLINE} ms (deadlineMs) at ${testServer().host}:${testServer().port}/${database}`);
        }
        expect((write as Error).message).toMatch(/precog-db sent a cancel request and closed the connection\. The write may or may not have been committed/);
        // The cancel stopped it: the unknown outcome is "not committed", and the clients were closed, not reused.
        expect(await paper.listTradesByMarket({ market_id: 'MKT-CONN-ERRORS' })).toEqual([]);
        await waitFor('the timed-out clients closed', async () => (await backendsOf(side, app)).length <= 1);
      } finally {
        await pool.end();
      }
    });
  });

  it("a write in precog-db's own transaction (environmentRoles) and a transaction whose body outlives it: ConnectionLostError, nothing committed", async () => {
    await withFreshDatabase(async (database, side) => {
      const { pool, app } = appPool(database, { max: 2 });
      try {
        const paper = precogDb(pool, { environmentRoles: true, deadlineMs: DEADLINE }).scope('paper', { api: 'demo' });
        await Promise.all([paper.listOpenPositions(), paper.listOpenPositions()]); // both connections open
        const release = await hold(side, 'LOCK TABLE trades IN ACCESS EXCLUSIVE MODE');
        const inOwnTransaction = await paper.recordTrade(fill('CE-DEADLINE-TX')).catch((e: unknown) => e);
        await cancelled(side, app);
        await release();
        expect(inOwnTransaction).toBeInstanceOf(ConnectionLostError);
        expect((inOwnTransaction as ConnectionLostError).deadlineMs).toBe(DEADLINE);

        // Between statements: the body waits on something else (an exchange's API) past the transaction's deadline.
        let bodyDone = false;
        let sentAfter: unknown;
        let outside: () => void = () => undefined;
        const elsewhere = new Promise<void>((resolve) => (outside = resolve));
        const failure = await precogDb(pool)
          .scope('paper', { api: 'demo' })
          .transaction(
            async (tx) => {
              await tx.recordTrade(fill('CE-DEADLINE-BODY'));
              await elsewhere;
              sentAfter = await tx.listTradesByMarket({ market_id: 'MKT-CONN-ERRORS' }).catch((e: unknown) => e);
              bodyDone = true;
            },
            { deadlineMs: DEADLINE },
          )
          .catch((e: unknown) => e);
        expect(bodyDone).toBe(false); // it answered while the body still waited
        expect(failure).toBeInstanceOf(ConnectionLostError);
        expect((failure as ConnectionLostError).deadlineMs).toBe(DEADLINE);
        expect((failure as Error).message).toMatch(/transaction \(scope\.transaction\) ran past its deadline of 1000 ms .* before its next statement was sent/);
        outside();
        await waitFor('the body to finish', () => bodyDone);
        expect(sentAfter).toBeInstanceOf(ConnectionLostError); // not sent: the connection was given up at the deadline
        expect(await paper.listTradesByMarket({ market_id: 'MKT-CONN-ERRORS' })).toEqual([]);
      } finally {
        await pool.end();
      }
    });
  });

  it('refuses a deadlineMs that is not a positive number of milliseconds; Infinity means none', () => {
    const pool = new pg.Pool({ ...testServer(), max: 1 });
    for (const bad of [0, -1, Number.NaN, '1000', 2 ** 31]) {
      expect(() => precogDb(pool, { deadlineMs: bad as number })).toThrow(ConfigurationError);
      expect(() => precogDb(pool).scope('paper', { api: 'demo' }).transaction(async () => undefined, { deadlineMs: bad as number })).toThrow(
        /scope\.transaction\(\): deadlineMs must be a positive number of milliseconds/,
      );
    }
    expect(() => precogDb(pool, { deadlineMs: Infinity })).not.toThrow();
    void pool.end();
  });
});

describe('retryConnectionFailures', () => {
  it('off by default: one connection attempt; with { attempts: 3 }: three, then the typed error, for reads and writes', async () => {
    const proxy = await tcpProxy(testServer(), () => 'close'); // accepts and closes: the server is away
    const pool = new pg.Pool({ host: '127.0.0.1', port: proxy.port, user: 'trader', password: PASSWORD, database: 'precog_prod' });
    try {
      await expect(precogDb(pool).scope('paper', { api: 'demo' }).listOpenPositions()).rejects.toBeInstanceOf(ConnectionFailedError);
      expect(proxy.connections).toBe(1);
      const db = precogDb(pool, { retryConnectionFailures: { attempts: 3, backoffMs: 1 } });
      for (const call of [() => db.scope('paper', { api: 'demo' }).listOpenPositions(), () => db.scope('paper', { api: 'demo' }).openPosition(position)]) {
        const before = proxy.connections;
        const failure = (await call().catch((e: unknown) => e)) as ConnectionFailedError;
        expect(failure).toBeInstanceOf(ConnectionFailedError);
        expect(failure.transient).toBe(true);
        expect(proxy.connections - before).toBe(3);
      }
      // A refused port too: still the typed error after the attempts.
      const refused = new pg.Pool({ host: '127.0.0.1', port: await closedPort(), user: 'trader', password: PASSWORD, database: 'precog_prod' });
      const failure = await precogDb(refused, { retryConnectionFailures: { attempts: 3, backoffMs: 1 } }).shared.getCurrentMarketByTicker({ ticker: 'X' }).catch((e: unknown) => e);
      await refused.end();
      expect((failure as ConnectionFailedError).reason).toBe('refused');
    } finally {
      await pool.end();
      await proxy.close();
    }
  });

  it('not for authentication: one attempt', async () => {
    const server = testServer();
    const proxy = await tcpProxy(server, () => 'forward');
    const pool = new pg.Pool({ host: '127.0.0.1', port: proxy.port, user: server.user, password: PASSWORD, database: 'postgres' });
    try {
      const db = precogDb(pool, { retryConnectionFailures: { attempts: 3, backoffMs: 1 } });
      const failure = (await db.scope('paper', { api: 'demo' }).listOpenPositions().catch((e: unknown) => e)) as ConnectionFailedError;
      expect(failure).toBeInstanceOf(ConnectionFailedError);
      expect(failure.reason).toBe('authentication');
      expect(proxy.connections).toBe(1);
    } finally {
      await pool.end();
      await proxy.close();
    }
  });

  it('a read that lost its connection is run again, on a new connection, and succeeds', async () => {
    await withFreshDatabase(async (database, side) => {
      const { pool, app, acquired } = appPool(database);
      try {
        const db = precogDb(pool, { retryConnectionFailures: { attempts: 2, backoffMs: 1 } });
        await db.scope('paper', { api: 'demo' }).openPosition(position);
        const before = acquired.count;
        const release = await hold(side, 'LOCK TABLE positions IN ACCESS EXCLUSIVE MODE');
        const pending = db.scope('paper', { api: 'demo' }).listOpenPositions();
        const first = await waitingBackend(side, app);
        await terminate(side, first);
        await waitingBackend(side, app, first); // the second attempt waits on the lock too
        await release();
        expect(await pending).toHaveLength(1);
        expect(acquired.count - before).toBe(2);
      } finally {
        await pool.end();
      }
    });
  });

  it('a lone write sent and lost is not run again (outcome unknown)', async () => {
    await withFreshDatabase(async (database, side) => {
      const { pool, app, acquired } = appPool(database);
      try {
        const db = precogDb(pool, { retryConnectionFailures: { attempts: 3, backoffMs: 1 } });
        const release = await hold(side, 'LOCK TABLE trades IN ACCESS EXCLUSIVE MODE');
        try {
          const pending = db.scope('paper', { api: 'demo' }).recordTrade(fill('CE-NOT-AGAIN')).catch((e: unknown) => e);
          const pid = await waitingBackend(side, app);
          await terminate(side, pid);
          expect(await settledWithoutRetry(pending, side, app, pid)).toBeInstanceOf(OutcomeUnknownError);
          expect(acquired.count).toBe(1);
        } finally {
          await release();
        }
      } finally {
        await pool.end();
      }
    });
  });

  it('scope.transaction: a write in its body lost is never run again; lost at BEGIN (before the body), it is', async () => {
    await withFreshDatabase(async (database, side) => {
      const { pool, app, acquired } = appPool(database);
      try {
        const db = precogDb(pool, { retryConnectionFailures: { attempts: 3, backoffMs: 1 } });
        let bodies = 0;
        const release = await hold(side, 'LOCK TABLE trades IN ACCESS EXCLUSIVE MODE');
        try {
          const pending = db
            .scope('paper', { api: 'demo' })
            .transaction(async (tx) => {
              bodies++;
              await tx.recordTrade(fill('CE-BODY'));
            })
            .catch((e: unknown) => e);
          const pid = await waitingBackend(side, app);
          await terminate(side, pid);
          expect(await settledWithoutRetry(pending, side, app, pid)).toBeInstanceOf(ConnectionLostError);
          expect([bodies, acquired.count]).toEqual([1, 1]);
        } finally {
          await release();
        }
      } finally {
        await pool.end();
      }

      // The connection cut as BEGIN is sent (a real socket cut by the proxy): the body never started, so it runs on a new connection.
      const proxy = await tcpProxy(testServer(), (n) => (n === 1 ? queryMessage('BEGIN') : 'forward'));
      const { pool: proxied } = appPool(database, { host: '127.0.0.1', port: proxy.port });
      try {
        let bodies = 0;
        const again = precogDb(proxied, { retryConnectionFailures: { attempts: 3, backoffMs: 1 } });
        const done = await again.scope('paper', { api: 'demo' }).transaction(async (tx) => {
          bodies++;
          await tx.recordTrade(fill('CE-AFTER-BEGIN'));
          return 'done';
        });
        expect([done, bodies, proxy.cuts, proxy.connections]).toEqual(['done', 1, 1, 2]);
        expect(await again.scope('paper', { api: 'demo' }).listTradesByMarket({ market_id: 'MKT-CONN-ERRORS' })).toHaveLength(1);
      } finally {
        await proxied.end();
        await proxy.close();
      }
    });
  });
});

describe("the pool's own 'error' event (an idle connection's backend terminated)", () => {
  it('does not crash a process whose pool has no listener (a warning, once), and leaves the application its own listeners', async () => {
    await withFreshDatabase(async (database, side) => {
      const warnings: Error[] = [];
      const onWarning = (warning: Error) => warnings.push(warning);
      process.on('warning', onWarning);
      const silent = appPool(database);
      const listening = appPool(database);
      const heard: unknown[] = [];
      listening.pool.on('error', (error) => heard.push(error));
      try {
        precogDb(silent.pool);
        const db = precogDb(silent.pool); // once per pool
        expect(silent.pool.listenerCount('error')).toBe(1);
        const crashes = await crashesDuring(async () => {
          for (const { pool, app } of [silent, listening]) {
            await precogDb(pool).scope('paper', { api: 'demo' }).listOpenPositions(); // leaves one idle client
            const [pid] = await backendsOf(side, app);
            await terminate(side, pid!);
            await waitFor('the pool to drop its idle client', () => pool.totalCount === 0);
          }
          await waitFor('the warning', () => warnings.some((w) => (w as { code?: string }).code === 'PRECOG_DB_IDLE_CONNECTION_LOST'));
        });
        expect(crashes).toEqual([]);
        expect(heard).toHaveLength(1);
        expect(warnings.filter((w) => (w as { code?: string }).code === 'PRECOG_DB_IDLE_CONNECTION_LOST')).toHaveLength(1);
        expect(await db.scope('paper', { api: 'demo' }).listOpenPositions()).toEqual([]); // a new connection
      } finally {
        process.off('warning', onWarning);
        await silent.pool.end();
        await listening.pool.end();
      }
    });
  });
});

describe('the server shutting down (a throwaway server)', () => {
  const DATABASE = 'precog_connection_errors';
  let throwaway: ThrowawayServer;
  let server: ServerTarget;

  beforeAll(async () => {
    throwaway = await startThrowawayServer();
    server = throwaway.server;
    await ensureDatabase(server, DATABASE);
    await migrate({ ...migrateSettings(server, DATABASE), logger: quietLogger });
    // graphile-migrate keeps an idle pool whose 'error' handler calls process.exit(1): end it before stopping the server.
    clearAllPools();
  }, 120_000);
  afterAll(() => throwaway?.destroy());

  it('pg_ctl stop -m fast while a read waits: ConnectionLostError; then the server is down: ConnectionFailedError refused', { timeout: 60_000 }, async () => {
    const side = new pg.Pool({ ...server, database: DATABASE, max: 2 });
    side.on('error', () => undefined);
    const { pool, app } = appPool(DATABASE, {}, server);
    let locker: pg.PoolClient | undefined;
    try {
      const paper = precogDb(pool).scope('paper', { api: 'demo' });
      locker = await side.connect();
      locker.on('error', () => undefined);
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE positions IN ACCESS EXCLUSIVE MODE');
      const crashes = await crashesDuring(async () => {
        const pending = paper.listOpenPositions().catch((e: unknown) => e);
        await waitingBackend(side, app);
        throwaway.beginStop('fast');
        const failure = await pending;
        expect(failure).toBeInstanceOf(ConnectionLostError);
        expectNamesServer(failure, server.host, server.port, DATABASE);
        await waitFor('the server to stop', () => throwaway.stopped());
        const down = (await paper.listOpenPositions().catch((e: unknown) => e)) as ConnectionFailedError;
        expect(down).toBeInstanceOf(ConnectionFailedError);
        expect([down.reason, down.transient]).toEqual(['refused', true]);
      });
      expect(crashes).toEqual([]);
    } finally {
      locker?.release(new Error('server stopped'));
      await pool.end();
      await side.end();
      await throwaway.restart();
    }
  });

  it('pg_ctl stop -m smart while a session is open: new connections get 57P03, ConnectionFailedError shutting-down', { timeout: 60_000 }, async () => {
    const held = new pg.Client({ ...server, database: DATABASE });
    held.on('error', () => undefined);
    const pool = new pg.Pool({ ...server, database: DATABASE, max: 1 });
    try {
      await held.connect();
      throwaway.beginStop('smart'); // waits for `held` to leave; meanwhile refuses new connections
      await waitFor('the server to refuse new connections', async () => {
        const probe = new pg.Client({ ...server, database: DATABASE });
        const error = await probe.connect().then(
          () => probe.end().then(() => undefined),
          (e: { code?: string }) => e,
        );
        return error?.code === '57P03';
      });
      for (const call of [() => precogDb(pool).scope('paper', { api: 'demo' }).listOpenPositions(), () => precogDb(pool).scope('paper', { api: 'demo' }).transaction(async () => 1)]) {
        const failure = (await call().catch((e: unknown) => e)) as ConnectionFailedError;
        expect(failure).toBeInstanceOf(ConnectionFailedError);
        expect([failure.reason, failure.transient, failure.code]).toEqual(['shutting-down', true, '57P03']);
        expectNamesServer(failure, server.host, server.port, DATABASE);
      }
    } finally {
      await held.end().catch(() => undefined);
      await pool.end();
      await waitFor('the server to stop', () => throwaway.stopped());
    }
  });
});
