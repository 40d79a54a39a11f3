/**
 * Issue 15: how each connection fault reaches the caller, on fake pools and clients (so each
 * case is exact and instant; test/database/faults-typed.test.ts does it with a real server).
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  ConnectionFailedError,
  ConnectionLostError,
  DatabaseError,
  Decimal,
  OutcomeUnknownError,
  precogDb,
  QueryCancelledError,
  RetryableConflictError,
  StatementTimeoutError,
} from 'precog-db';
import { toDatabaseError } from '../../src/runtime/database-errors.js';

const context = { name: 'listOpenPositions', file: 'sql/positions.sql' };
const pgError = (code: string, message: string, severity = 'ERROR') => Object.assign(new Error(message), { code, severity });
const terminated = () => pgError('57P01', 'terminating connection due to administrator command', 'FATAL');

/** A pg-like client: answers by statement text, emits 'error' on demand, records how it was released. */
class FakeClient extends EventEmitter {
  host = 'db.example';
  port = 6543;
  database = 'precog_prod';
  statements: string[] = [];
  released: (Error | boolean | undefined)[] = [];
  constructor(private readonly answer: (text: string) => Promise<{ rows: Record<string, unknown>[]; command?: string }>) {
    super();
  }
  query(config: { text: string }) {
    this.statements.push(config.text);
    return this.answer(config.text);
  }
  release(error?: Error | boolean) {
    this.released.push(error);
  }
}

/** A pg-like pool handing out clients made by `make`, or failing to connect with `connectError`. */
function fakePool(make: () => FakeClient, connectError?: () => Error) {
  const pool = Object.assign(new EventEmitter(), {
    totalCount: 0,
    options: { host: 'db.example', port: 6543, database: 'precog_prod', user: 'trader', password: 's3cret-pw' },
    connects: 0,
    clients: [] as FakeClient[],
    async connect() {
      pool.connects++;
      if (connectError) throw connectError();
      const client = make();
      pool.clients.push(client);
      return client;
    },
    query: () => Promise.reject(new Error('precog-db checks clients out; it does not call pool.query')),
  });
  return pool;
}

const ok = (rows: Record<string, unknown>[] = []) => Promise.resolve({ rows, command: 'SELECT' });
const position = { market_id: 'MKT-X', side: 'YES' as const, entry_price: new Decimal('0.5'), quantity: 1, fees: new Decimal('0') };
const paperRow = { execution_environment: 'paper' };

describe('toDatabaseError: SQLSTATEs to classes', () => {
  it('cancelled, statement timeout, lock timeout, conflicts', () => {
    expect(toDatabaseError(pgError('57014', 'canceling statement due to user request'), context)).toBeInstanceOf(QueryCancelledError);
    const timeout = toDatabaseError(pgError('57014', 'canceling statement due to statement timeout'), context);
    expect(timeout).toBeInstanceOf(StatementTimeoutError);
    expect((timeout as StatementTimeoutError).timeout).toBe('statement_timeout');
    const lock = toDatabaseError(pgError('55P03', 'canceling statement due to lock timeout'), context);
    expect((lock as StatementTimeoutError).timeout).toBe('lock_timeout');
    expect(toDatabaseError(pgError('40001', 'could not serialize access'), context)).toBeInstanceOf(RetryableConflictError);
    expect(toDatabaseError(pgError('40P01', 'deadlock detected'), context)).toBeInstanceOf(RetryableConflictError);
  });

  it('a driver error without a code is still a DatabaseError naming the query', () => {
    const error = toDatabaseError(new Error('something odd'), context);
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as DatabaseError).query).toBe('listOpenPositions');
  });
});

describe('cannot connect: ConnectionFailedError naming host, port and database, never the password', () => {
  const cases: [string, () => Error, string, boolean][] = [
    ['refused', () => Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6543'), { code: 'ECONNREFUSED' }), 'refused', true],
    ['starting up', () => pgError('57P03', 'the database system is starting up', 'FATAL'), 'starting-up', true],
    ['shutting down', () => pgError('57P03', 'the database system is shutting down', 'FATAL'), 'shutting-down', true],
    ['terminated while connecting', terminated, 'shutting-down', true],
    ['too many connections', () => pgError('53300', 'sorry, too many clients already', 'FATAL'), 'too-many-connections', true],
    ['authentication', () => pgError('28P01', 'password authentication failed for user "trader"', 'FATAL'), 'authentication', false],
    ['no such role', () => pgError('28000', 'role "trader" does not exist', 'FATAL'), 'authentication', false],
    ['timeout', () => new Error('timeout exceeded when trying to connect'), 'timeout', true],
  ];
  for (const [label, error, reason, transient] of cases) {
    it(label, async () => {
      const pool = fakePool(() => new FakeClient(() => ok()), error);
      const failure = await precogDb(pool).scope('paper', { api: 'demo' }).listOpenPositions().catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ConnectionFailedError);
      const failed = failure as ConnectionFailedError;
      expect([failed.reason, failed.transient, failed.query]).toEqual([reason, transient, 'listOpenPositions']);
      expect([failed.host, failed.port, failed.database]).toEqual(['db.example', 6543, 'precog_prod']);
      expect(failed.message).toContain('could not connect to db.example:6543/precog_prod');
      expect(failed.message).not.toContain('s3cret-pw');
      expect(failed.message).not.toMatch(/lost its connection/);
    });
  }

  it('a real pg.Pool that never connected: the target comes from its options', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as net.AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const pool = new pg.Pool({ connectionString: `postgres://trader:s3cret-pw@127.0.0.1:${port}/precog_prod` });
    try {
      const db = precogDb(pool, { environmentRoles: true });
      for (const call of [
        () => db.scope('paper', { api: 'demo' }).listOpenPositions(),
        () => db.scope('paper', { api: 'demo' }).transaction(async () => undefined),
        () => db.shared.getCurrentMarketByTicker({ ticker: 'X' }),
      ]) {
        const failure = (await call().catch((e: unknown) => e)) as ConnectionFailedError;
        expect(failure).toBeInstanceOf(ConnectionFailedError);
        expect(failure.message).toContain(`could not connect to 127.0.0.1:${port}/precog_prod`);
        expect(failure.message).not.toContain('s3cret-pw');
      }
    } finally {
      await pool.end();
    }
  });
});

describe('connection lost mid-call', () => {
  it('a read: ConnectionLostError, and the broken client is discarded', async () => {
    const pool = fakePool(() => new FakeClient(() => Promise.reject(terminated())));
    const failure = await precogDb(pool).scope('paper', { api: 'demo' }).listOpenPositions().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConnectionLostError);
    expect((failure as ConnectionLostError).message).toContain('lost its connection to PostgreSQL at db.example:6543/precog_prod');
    expect(pool.clients[0]!.released[0]).toBeInstanceOf(Error);
  });

  it('a lone write (its own commit) sent and lost: OutcomeUnknownError', async () => {
    const pool = fakePool(() => new FakeClient(() => Promise.reject(new Error('Connection terminated unexpectedly'))));
    const failure = await precogDb(pool).scope('paper', { api: 'demo' }).openPosition(position).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(OutcomeUnknownError);
    expect((failure as Error).message).toMatch(/may or may not have been committed/);
  });

  it('a write inside a transaction, before COMMIT: ConnectionLostError (nothing committed)', async () => {
    const pool = fakePool(() => new FakeClient((text) => (/^INSERT/i.test(text.trim()) ? Promise.reject(terminated()) : ok())));
    const failure = await precogDb(pool, { environmentRoles: true }).scope('paper', { api: 'demo' }).openPosition(position).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConnectionLostError);
    expect(pool.clients[0]!.statements.some((text) => /^COMMIT/.test(text))).toBe(false);
  });

  it('lost during COMMIT of a transaction that wrote: OutcomeUnknownError, never retried', async () => {
    const pool = fakePool(
      () =>
        new FakeClient((text) =>
          text === 'COMMIT' ? Promise.reject(new Error('Connection terminated unexpectedly')) : ok(/^\s*INSERT|^\s*WITH/i.test(text) ? [paperRow] : []),
        ),
    );
    const db = precogDb(pool, { environmentRoles: true, retryConnectionFailures: { attempts: 5, backoffMs: 1 } });
    const failure = await db.scope('paper', { api: 'demo' }).openPosition(position).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(OutcomeUnknownError);
    expect(failure).not.toBeInstanceOf(ConnectionLostError);
    expect((failure as OutcomeUnknownError).message).toMatch(/COMMIT was sent/);
    expect(pool.connects).toBe(1);
  });

  it("lost during COMMIT of a transaction that only read: ConnectionLostError (nothing to commit)", async () => {
    const pool = fakePool(() => new FakeClient((text) => (text === 'COMMIT' ? Promise.reject(terminated()) : ok())));
    const failure = await precogDb(pool, { environmentRoles: true }).scope('paper', { api: 'demo' }).listOpenPositions().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConnectionLostError);
  });

  it("an 'error' event between statements: no crash, the next statement is not sent, ConnectionLostError, client discarded", async () => {
    let client!: FakeClient;
    const pool = fakePool(() => (client = new FakeClient(() => ok())));
    const failure = await precogDb(pool)
      .scope('paper', { api: 'demo' })
      .transaction(async (tx) => {
        await tx.listOpenPositions();
        client.emit('error', terminated()); // would throw (crash the process) without a listener
        await tx.listOpenPositions();
      })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ConnectionLostError);
    expect(client.statements.filter((text) => /listOpen|FROM positions/i.test(text))).toHaveLength(1);
    expect(client.statements).not.toContain('COMMIT');
    expect(client.released[0]).toBeInstanceOf(Error);
    expect(client.listenerCount('error')).toBe(0); // precog-db stopped listening on release (pg-pool listens again)
  });

  it('a COMMIT answered with ROLLBACK (a failed statement caught in the body) is not acknowledged', async () => {
    const pool = fakePool(() => new FakeClient((text) => (text === 'COMMIT' ? Promise.resolve({ rows: [], command: 'ROLLBACK' }) : ok())));
    const failure = await precogDb(pool).scope('paper', { api: 'demo' }).transaction(async () => undefined).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DatabaseError);
    expect((failure as DatabaseError).code).toBe('25P02');
  });

  it("an ordinary error keeps the client (ROLLBACK succeeded): released without error", async () => {
    const pool = fakePool(() => new FakeClient((text) => (/^\s*INSERT/i.test(text) ? Promise.reject(pgError('40001', 'could not serialize')) : ok())));
    const failure = await precogDb(pool, { environmentRoles: true }).scope('paper', { api: 'demo' }).openPosition(position).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(RetryableConflictError);
    expect(pool.clients[0]!.released).toEqual([undefined]);
  });
});

describe('retryConnectionFailures', () => {
  const refused = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

  it('off by default: one attempt', async () => {
    const pool = fakePool(() => new FakeClient(() => ok()), refused);
    await expect(precogDb(pool).scope('paper', { api: 'demo' }).listOpenPositions()).rejects.toBeInstanceOf(ConnectionFailedError);
    expect(pool.connects).toBe(1);
  });

  it('bounded: `attempts` in all, then the typed error', async () => {
    const pool = fakePool(() => new FakeClient(() => ok()), refused);
    const db = precogDb(pool, { retryConnectionFailures: { attempts: 3, backoffMs: 1 } });
    await expect(db.scope('paper', { api: 'demo' }).openPosition(position)).rejects.toBeInstanceOf(ConnectionFailedError);
    expect(pool.connects).toBe(3);
  });

  it('not for configuration errors (authentication)', async () => {
    const pool = fakePool(() => new FakeClient(() => ok()), () => pgError('28P01', 'password authentication failed', 'FATAL'));
    const db = precogDb(pool, { retryConnectionFailures: { attempts: 3, backoffMs: 1 } });
    await expect(db.scope('paper', { api: 'demo' }).listOpenPositions()).rejects.toBeInstanceOf(ConnectionFailedError);
    expect(pool.connects).toBe(1);
  });

  it('a read that lost its connection is run again and succeeds', async () => {
    let calls = 0;
    const pool = fakePool(() => new FakeClient(() => (++calls === 1 ? Promise.reject(terminated()) : ok([paperRow]))));
    const db = precogDb(pool, { retryConnectionFailures: { attempts: 2, backoffMs: 1 } });
    expect(await db.scope('paper', { api: 'demo' }).listOpenPositions()).toEqual([paperRow]);
    expect(pool.connects).toBe(2);
  });

  it('a lone write sent and lost is not run again (outcome unknown)', async () => {
    const pool = fakePool(() => new FakeClient(() => Promise.reject(terminated())));
    const db = precogDb(pool, { retryConnectionFailures: { attempts: 3, backoffMs: 1 } });
    await expect(db.scope('paper', { api: 'demo' }).openPosition(position)).rejects.toBeInstanceOf(OutcomeUnknownError);
    expect(pool.connects).toBe(1);
  });

  it('scope.transaction is run again only when its body never started', async () => {
    let bodies = 0;
    const lostInBody = fakePool(() => new FakeClient((text) => (/FROM positions/i.test(text) ? Promise.reject(terminated()) : ok())));
    const db = precogDb(lostInBody, { retryConnectionFailures: { attempts: 3, backoffMs: 1 } });
    await expect(
      db.scope('paper', { api: 'demo' }).transaction(async (tx) => {
        bodies++;
        await tx.listOpenPositions();
      }),
    ).rejects.toBeInstanceOf(ConnectionLostError);
    expect(bodies).toBe(1);

    let begins = 0;
    const lostAtBegin = fakePool(() => new FakeClient((text) => (/^BEGIN/.test(text) && ++begins === 1 ? Promise.reject(terminated()) : ok())));
    const again = precogDb(lostAtBegin, { retryConnectionFailures: { attempts: 3, backoffMs: 1 } });
    expect(await again.scope('paper', { api: 'demo' }).transaction(async () => 'done')).toBe('done');
    expect(lostAtBegin.connects).toBe(2);
  });
});

describe("the pool's own 'error' event (an idle connection broke)", () => {
  it('does not crash a process whose pool has no listener, and leaves the application its own listeners', () => {
    const pool = fakePool(() => new FakeClient(() => ok()));
    precogDb(pool);
    precogDb(pool); // once per pool
    expect(pool.listenerCount('error')).toBe(1);
    expect(() => pool.emit('error', terminated())).not.toThrow();
    const heard: unknown[] = [];
    pool.on('error', (error) => heard.push(error));
    pool.emit('error', terminated());
    expect(heard).toHaveLength(1);
  });
});
