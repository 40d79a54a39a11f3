/**
 * The clients precog-db holds while a call runs, and what it hears from them.
 *
 * A pg client checked out of a pool has no 'error' listener: pg-pool removes its own while the
 * client is out. A server killed or a backend terminated between two statements makes the client
 * emit 'error', and with no listener node crashes the process. So while precog-db holds a client
 * it listens: what it hears becomes the error of the call in progress (the next statement is not
 * sent; the call fails with ConnectionLostError), and a broken client is released with the error,
 * so the pool discards it instead of handing it out again.
 *
 * Every statement's failure is tagged with where it happened (FaultPhase): opening the
 * connection, before sending, inside a transaction, during COMMIT, or a lone statement (its own
 * commit). toDatabaseError turns that into ConnectionFailedError, ConnectionLostError or
 * OutcomeUnknownError, with host, port and database. A refusal of a pooler's own (PgBouncer:
 * no server, query_wait_timeout) reached no server: it is tagged `connect` when it came before
 * anything of the call ran.
 *
 * A call with a deadline (src/connection/deadline.ts) answers by then: its held client stops waiting
 * for the statement in flight (or for the body, between statements), sends a cancel request and
 * closes the connection, and the call's error is typed by the phase the call stood in.
 */
import { connect as connectSocket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom, type CopyStreamQuery } from 'pg-copy-streams';
import { ConnectionFault, type ConnectionTarget, DeadlineExceeded, type FaultPhase, isConnectionFailure, isPoolerRefusal } from '../runtime/database-errors.js';
import { mayWrite, type Queryable } from '../runtime/query.js';
import type { Deadline } from './deadline.js';
import pg, { type QueryConfig, type QueryResultRow } from 'pg';

/** A pool of connections (pg.Pool): precog-db checks a client out of it for each call. */
export interface Pool extends Queryable {
  connect(): Promise<Queryable & { release(error?: Error | boolean): void }>;
}

type Listener = (error: unknown) => void;
interface Emitter {
  on?(event: 'error', listener: Listener): unknown;
  removeListener?(event: 'error', listener: Listener): unknown;
  listenerCount?(event: 'error'): number;
}
type PoolClient = Queryable & Emitter & { release(error?: Error | boolean): void };

export function isPool(connection: Pool | Queryable): connection is Pool {
  return typeof (connection as { connect?: unknown }).connect === 'function' && 'totalCount' in connection;
}

/**
 * Where a pool connects, for messages: from its options (host, port, database, or a connection
 * string) and PG* variables, as node-postgres resolves them; once a client has connected, from
 * the client itself. Never the user or the password.
 */
export class TargetOf {
  private known: ConnectionTarget | undefined;
  constructor(private readonly connection: object) {}

  get current(): ConnectionTarget | undefined {
    return (this.known ??= fromOptions(this.connection) ?? fromClient(this.connection));
  }

  learn(client: object): void {
    this.known = fromClient(client) ?? this.known;
  }
}

function fromClient(client: object): ConnectionTarget | undefined {
  const { host, port, database } = client as { host?: unknown; port?: unknown; database?: unknown };
  if (typeof host !== 'string' || port === undefined) return undefined;
  return { host, port: Number(port), database: typeof database === 'string' ? database : '' };
}

function fromOptions(pool: object): ConnectionTarget | undefined {
  const options = (pool as { options?: Record<string, unknown> }).options;
  if (!options) return undefined;
  let fromUrl: Partial<ConnectionTarget> & { user?: string } = {};
  if (typeof options.connectionString === 'string') {
    try {
      const url = new URL(options.connectionString);
      fromUrl = {
        host: url.hostname || undefined,
        port: url.port ? Number(url.port) : undefined,
        database: decodeURIComponent(url.pathname.replace(/^\//, '')) || undefined,
        user: decodeURIComponent(url.username) || undefined,
      };
    } catch {
      // not a URL (a libpq key=value string): the options and PG* variables still name the rest
    }
  }
  const text = (value: unknown) => (typeof value === 'string' && value ? value : undefined);
  const user = fromUrl.user ?? text(options.user) ?? process.env.PGUSER ?? process.env.USER;
  return {
    host: fromUrl.host ?? text(options.host) ?? process.env.PGHOST ?? 'localhost',
    port: fromUrl.port ?? (options.port ? Number(options.port) : undefined) ?? (process.env.PGPORT ? Number(process.env.PGPORT) : 5432),
    database: fromUrl.database ?? text(options.database) ?? process.env.PGDATABASE ?? user ?? '',
  };
}

/**
 * A client precog-db holds for one call: listens for 'error' while held, and tags each failed
 * statement with its phase. `owned` clients came from the pool and go back to it (discarded if
 * broken); a client the application gave precogDb() is only listened to while the call runs.
 */
export class HeldClient implements Queryable {
  /** The first connection error heard (an 'error' event, or a statement that lost the connection). */
  lost: unknown;
  /** A statement failed in a way that leaves the session unusable (ROLLBACK failed): discard it. */
  broken = false;
  /** Whether a transaction of precog-db's is open on this client (set by BEGIN, cleared by COMMIT/ROLLBACK). */
  inTransaction: boolean;
  /** A statement that may write was sent: a COMMIT lost from here on may have committed something. */
  wrote = false;
  /** Savepoints of precog-db's open on this client: a call inside a transaction it did not begin. */
  savepoints = 0;
  /** Statements of this call that were answered: a pooler's refusal before the first means nothing of the call ran. */
  private answered = 0;
  /** The phase of the statement in flight, if one is: where a fault now would leave the call. */
  private inFlight: FaultPhase | undefined;
  /** Fires at the call's deadline. */
  private timer: ReturnType<typeof setTimeout> | undefined;
  /**
   * What the deadline interrupts: the promise of the statement in flight and the call's body
   * (`within`), rejected directly rather than raced, which would cost a promise per statement.
   */
  private interruptStatement: ((exceeded: DeadlineExceeded) => void) | undefined;
  private interruptBody: ((exceeded: DeadlineExceeded) => void) | undefined;
  /** Where the call stood when its deadline passed: the phase its error is typed by. */
  private expiredIn: FaultPhase | undefined;
  /** The cancel request sent at the deadline: the connection is closed only once it is delivered. */
  private aborting: Promise<void> | undefined;
  private released = false;
  private readonly listener: Listener = (error) => {
    this.lost ??= error;
  };
  /** A pg.Client: asked with a callback (see `send`). */
  private readonly callbacks: boolean;

  constructor(
    private readonly client: Queryable & Emitter & { release?(error?: Error | boolean): void },
    private readonly target: TargetOf,
    private readonly owned: boolean,
    inTransaction = false,
    deadline?: Deadline,
  ) {
    this.inTransaction = inTransaction;
    this.callbacks = client instanceof pg.Client;
    client.on?.('error', this.listener);
    if (deadline) this.timer = setTimeout(() => this.expire(deadline.exceeded()), deadline.remaining());
  }

  /**
   * The deadline passed: no further statement is sent, and a statement in flight is given up on
   * (a cancel request goes to the server; the connection is closed once it is delivered).
   */
  private expire(exceeded: DeadlineExceeded): void {
    this.lost ??= exceeded;
    this.expiredIn = this.inFlight ?? 'not-sent';
    if (this.inFlight) this.aborting = cancelRequest(this.client);
    this.interruptStatement?.(exceeded);
    this.interruptBody?.(exceeded);
  }

  /** `work` (the call's body), bounded by the deadline: it rejects when the deadline passes, typed by where the call stood. */
  within<T>(work: Promise<T>): Promise<T> {
    if (this.timer === undefined) return work;
    return new Promise<T>((resolve, reject) => {
      this.interruptBody = (exceeded) => reject(new ConnectionFault(exceeded, this.expiredIn ?? 'not-sent', this.target.current));
      work.then(resolve, reject);
    });
  }

  async query<R extends QueryResultRow = QueryResultRow>(config: QueryConfig): Promise<{ rows: R[]; command?: string }> {
    // Heard between statements (or the deadline passed): the connection is gone, and this statement is not sent.
    if (this.lost !== undefined) throw new ConnectionFault(this.lost, 'not-sent', this.target.current);
    if (!this.wrote && mayWrite(config.text)) this.wrote = true;
    const commit = /^\s*commit\b/i.test(config.text);
    // Where a lost connection would leave the call: a lone statement is its own commit.
    const phase: FaultPhase = commit ? (this.wrote ? 'commit' : 'transaction') : this.inTransaction ? 'transaction' : 'autocommit';
    this.inFlight = phase;
    try {
      const result = await this.send<R>(config);
      this.answered++;
      return result;
    } catch (error) {
      if (error instanceof DeadlineExceeded) throw new ConnectionFault(error, phase, this.target.current);
      // As pg's own promise does: the stack leads back to the call, not to the socket's read.
      if (this.callbacks && error instanceof Error) Error.captureStackTrace(error);
      if (!isConnectionFailure(error)) throw error;
      this.lost ??= error;
      const notSent = /not queryable/i.test(String((error as { message?: unknown }).message));
      // The pooler refused the statement before it reached a server: first of the call, nothing of it ran.
      const refused = isPoolerRefusal(error) ? (this.answered === 0 ? 'connect' : 'transaction') : undefined;
      throw new ConnectionFault(error, notSent ? 'not-sent' : (refused ?? phase), this.target.current);
    } finally {
      this.inFlight = undefined;
      this.interruptStatement = undefined;
    }
  }

  /**
   * A pg.Client is asked with a callback, as pool.query asks it. Asked for its promise (which pg
   * chains through a `.catch`), the rows of each statement survived young-generation collections
   * and were promoted: in a loop of listRecentTrades({ limit: 50 }) on a pool, about 3 MB of old
   * space per scavenge and a mark-compact every half second (node --trace-gc), against none with
   * a callback. Any other Queryable is asked for its promise.
   */
  private send<R extends QueryResultRow>(config: QueryConfig): Promise<{ rows: R[]; command?: string }> {
    if (!this.callbacks) {
      const sending = this.client.query<R>(config) as Promise<{ rows: R[]; command?: string }>;
      if (this.timer === undefined) return sending;
      return new Promise((resolve, reject) => {
        this.interruptStatement = reject;
        sending.then(resolve, reject);
      });
    }
    return new Promise((resolve, reject) => {
      // At the deadline the call stops waiting; pg's answer, if it ever comes, settles nothing.
      if (this.timer !== undefined) this.interruptStatement = reject;
      (this.client as unknown as pg.Client).query<R>(config, (error: Error | null, result: pg.QueryResult<R>) => (error ? reject(error) : resolve(result)));
    });
  }

  /**
   * `COPY ... FROM STDIN` of `lines` (each a line of COPY text format, newline included), with the
   * faults of query(). Resolves to the number of rows the server took.
   */
  async copyFrom(text: string, lines: Iterable<string> | AsyncIterable<string>): Promise<number> {
    if (this.lost !== undefined) throw new ConnectionFault(this.lost, 'not-sent', this.target.current);
    this.wrote = true;
    try {
      const stream = (this.client as unknown as { query(stream: CopyStreamQuery): CopyStreamQuery }).query(copyFrom(text));
      await pipeline(Readable.from(lines), stream);
      return stream.rowCount ?? 0;
    } catch (error) {
      if (!isConnectionFailure(error)) throw error;
      this.lost ??= error;
      throw new ConnectionFault(error, this.inTransaction ? 'transaction' : 'autocommit', this.target.current);
    }
  }

  /**
   * Stops listening; gives an owned client back to the pool, which discards it if it is broken
   * (closing the connection). After a deadline, only once the cancel request is delivered: closed
   * first, PgBouncer would drop the request along with the client.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    clearTimeout(this.timer);
    const failed = this.lost !== undefined || this.broken || this.inTransaction;
    const giveBack = () => {
      // A late 'error' from a discarded client goes to pg-pool's listener, which it attaches on release.
      if (this.owned) this.client.release!(failed ? asError(this.lost) : undefined);
      this.client.removeListener?.('error', this.listener);
    };
    if (this.aborting) void this.aborting.then(giveBack);
    else giveBack();
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String((error as { message?: unknown } | undefined)?.message ?? 'connection broken'));
}

/** How long the connection is kept open for a cancel request in delivery, at most: the call has answered already. */
const CANCEL_DELIVERY_MS = 5_000;
/** How long a cancel request's own connection is kept open, at most, for its server to close it. */
const CANCEL_SOCKET_MS = 60_000;

/**
 * PostgreSQL's cancel request for what a pg.Client is running (a connection of its own carrying
 * the backend's key: the protocol's CancelRequest, 16 bytes), as pg's `Client#cancel` sends it.
 * Through PgBouncer the key is PgBouncer's, which forwards it to the server running the statement.
 *
 * As libpq does, the request's connection is left for the server to close: PgBouncer 1.18 crashes
 * (`FATAL ... bad client state`) when a cancel request's client hangs up before PgBouncer has
 * forwarded it. Resolves once the server closed it (delivered, or refused), or after
 * CANCEL_DELIVERY_MS; never rejects.
 */
function cancelRequest(client: object): Promise<void> {
  const { processID, secretKey, host, port } = client as { processID?: unknown; secretKey?: unknown; host?: unknown; port?: unknown };
  if (typeof processID !== 'number' || typeof secretKey !== 'number' || port === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const socket =
      typeof host === 'string' && host.startsWith('/') ? connectSocket(`${host}/.s.PGSQL.${port}`) : connectSocket(Number(port), typeof host === 'string' ? host : 'localhost');
    socket.unref();
    const waited = setTimeout(resolve, CANCEL_DELIVERY_MS);
    const abandoned = setTimeout(() => socket.destroy(), CANCEL_SOCKET_MS);
    abandoned.unref();
    const closed = () => {
      clearTimeout(waited);
      clearTimeout(abandoned);
      socket.destroy();
      resolve();
    };
    socket.once('connect', () => {
      const request = Buffer.alloc(16);
      request.writeInt32BE(16, 0);
      request.writeInt32BE(80877102, 4); // the CancelRequest code
      request.writeInt32BE(processID, 8);
      request.writeInt32BE(secretKey, 12);
      socket.write(request);
    });
    socket.on('data', () => undefined); // nothing is expected; the server closes the connection
    socket.once('close', closed);
    socket.once('error', closed);
  });
}

/**
 * Checks a client out of the pool (a failure is tagged `connect`: nothing was sent), runs `body`
 * on it while listening for its errors, and gives it back.
 */
export async function withPoolClient<T>(pool: Pool, target: TargetOf, body: (client: HeldClient) => Promise<T>, deadline?: Deadline): Promise<T> {
  let client: PoolClient;
  // A retry after the deadline (an SCD write's next attempt) does not take a client at all.
  if (deadline && deadline.remaining() === 0) throw new ConnectionFault(deadline.exceeded(), 'connect', target.current);
  try {
    const connecting = pool.connect() as Promise<PoolClient>;
    // A client that comes after the deadline goes straight back to the pool, unused.
    client = deadline ? await beforeDeadline(connecting, deadline, (late) => late.release()) : await connecting;
  } catch (error) {
    throw new ConnectionFault(error, 'connect', target.current);
  }
  target.learn(client);
  const held = new HeldClient(client, target, true, false, deadline);
  try {
    return await held.within(body(held));
  } finally {
    held.release();
  }
}

/**
 * Runs `body` on a client the application gave precogDb(), listening for its errors meanwhile.
 * At a deadline a cancel request is sent, but the client is the application's: it is not closed.
 */
export async function withGivenClient<T>(
  client: Queryable,
  target: TargetOf,
  inTransaction: boolean,
  body: (client: HeldClient) => Promise<T>,
  deadline?: Deadline,
): Promise<T> {
  const held = new HeldClient(client as Queryable & Emitter, target, false, inTransaction, deadline);
  try {
    return await held.within(body(held));
  } finally {
    held.release();
  }
}

/** `work`, or DeadlineExceeded when the deadline passes first; what `work` brings later goes to `late`. */
function beforeDeadline<T>(work: Promise<T>, deadline: Deadline, late: (value: T) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    let passed = false;
    const timer = setTimeout(() => {
      passed = true;
      reject(deadline.exceeded());
    }, deadline.remaining());
    work.then(
      (value) => (passed ? late(value) : (clearTimeout(timer), resolve(value))),
      (error) => {
        if (!passed) (clearTimeout(timer), reject(error));
      },
    );
  });
}

const guarded = new WeakSet<object>();
const warned = new WeakSet<object>();

/**
 * The pool's own 'error' event: pg-pool emits it when an idle client's connection breaks (the
 * server restarted), after it has already discarded that client. Nothing is in progress, and the
 * next call opens a new connection (and fails with ConnectionFailedError if the server is still
 * away), but a pool with no listener makes node crash the process. So precog-db listens on the
 * pools it is given: if the application listens too, precog-db stays silent (the application
 * hears every event as before); if not, the first such error is reported once as a process warning
 * (PRECOG_DB_IDLE_CONNECTION_LOST) instead of crashing the process. Nothing is swallowed that a
 * caller could act on.
 */
export function guardPool(pool: object): void {
  const emitter = pool as Emitter;
  if (guarded.has(pool) || typeof emitter.on !== 'function') return;
  guarded.add(pool);
  emitter.on('error', (error) => {
    if ((emitter.listenerCount?.('error') ?? 1) > 1 || warned.has(pool)) return;
    warned.add(pool);
    const message = String((error as { message?: unknown } | undefined)?.message ?? error);
    process.emitWarning(
      `precog-db: an idle connection of the pool broke (${message}); the pool discarded it and opens a new one on the next call. ` +
        "Listen on the pool's 'error' event to log these yourself (this warning is shown once per pool).",
      { code: 'PRECOG_DB_IDLE_CONNECTION_LOST' },
    );
  });
}
