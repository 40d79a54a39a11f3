/**
 * PostgreSQL errors mapped to typed errors that name the rule, the table and the offending value,
 * so callers can tell a refused trade from a lost connection without parsing messages.
 */
import { redact } from '../server/connection-string.js';

interface QueryContext {
  name: string;
  file: string;
  /** The caller's parameters, to name the offending value of a refused row. */
  params?: Record<string, unknown>;
}

/** The fields node-postgres copies from the server's error report. */
interface PgErrorFields {
  code?: string;
  table?: string;
  column?: string;
  constraint?: string;
  detail?: string;
  hint?: string;
}

/** Base class: every error raised while running a generated query. */
export class DatabaseError extends Error {
  override readonly name: string = 'DatabaseError';
  readonly code: string | undefined;
  readonly table: string | undefined;
  readonly query: string;
  constructor(message: string, fields: PgErrorFields, context: QueryContext, options?: ErrorOptions) {
    super(message, options);
    this.code = fields.code;
    this.table = fields.table;
    this.query = context.name;
  }
}

/** A constraint refused the row: CHECK, NOT NULL, UNIQUE, FOREIGN KEY, or an invalid enum value. */
export class ConstraintViolationError extends DatabaseError {
  override readonly name = 'ConstraintViolationError';
  constructor(
    readonly rule: string,
    readonly column: string | undefined,
    readonly value: unknown,
    message: string,
    fields: PgErrorFields,
    context: QueryContext,
    options?: ErrorOptions,
  ) {
    super(message, fields, context, options);
  }
}

/**
 * One of precog-db's own rules (environment isolation, append-only history), raised by a
 * trigger or policy with SQLSTATE class P0 or 42501 and a message that names the rule.
 */
export class EnvironmentRuleError extends DatabaseError {
  override readonly name = 'EnvironmentRuleError';
  readonly column: string | undefined;
  /** What to do instead, from the rule's HINT. */
  readonly hint: string | undefined;
  constructor(
    readonly rule: string,
    message: string,
    fields: PgErrorFields,
    context: QueryContext,
    options?: ErrorOptions,
  ) {
    super(message, fields, context, options);
    this.column = fields.column;
    this.hint = fields.hint;
  }
}

/** Two writers collided (serialization failure or deadlock): the whole transaction may be retried. */
export class RetryableConflictError extends DatabaseError {
  override readonly name = 'RetryableConflictError';
}

/** Where a server is, as connection errors name it: never the user or the password. */
export interface ConnectionTarget {
  host: string;
  port: number;
  database: string;
}

/**
 * Base of the three connection errors: they name host, port and database (when known). Catch the
 * subclasses, not this: ConnectionFailedError and ConnectionLostError mean nothing was committed,
 * OutcomeUnknownError means it may have been.
 */
export class ConnectionError extends DatabaseError {
  override readonly name: string = 'ConnectionError';
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly database: string | undefined;
  /**
   * Set when precog-db itself ended the call at its deadline (`deadlineMs`, in milliseconds): it
   * sent a cancel request and closed the connection. The class still says what may have committed.
   */
  readonly deadlineMs: number | undefined;
  constructor(message: string, fields: PgErrorFields, context: QueryContext, target: ConnectionTarget | undefined, options?: ErrorOptions) {
    super(message, fields, context, options);
    this.host = target?.host;
    this.port = target?.port;
    this.database = target?.database;
    const cause = options?.cause;
    this.deadlineMs = cause instanceof DeadlineExceeded ? cause.ms : undefined;
  }
}

/** Why a connection could not be opened. */
export type ConnectFailureReason =
  | 'refused'
  | 'starting-up'
  | 'shutting-down'
  | 'too-many-connections'
  | 'authentication'
  | 'unknown-database'
  | 'timeout'
  | 'pool-ended'
  | 'pooler'
  | 'deadline'
  | 'other';

/**
 * No connection could be opened (refused, the server starting up or shutting down, too many
 * connections, authentication, a timeout), a connection pooler (PgBouncer) refused the call
 * before any statement of it reached a server (`pooler`), or the call's deadline passed before a
 * connection was had (`deadline`): nothing of the call reached the database, so it is safe to
 * retry when `transient` (the server is restarting or busy); otherwise fix the configuration.
 */
export class ConnectionFailedError extends ConnectionError {
  override readonly name = 'ConnectionFailedError';
  constructor(
    readonly reason: ConnectFailureReason,
    message: string,
    fields: PgErrorFields,
    context: QueryContext,
    target: ConnectionTarget | undefined,
    options?: ErrorOptions,
  ) {
    super(message, fields, context, target, options);
  }
  /** The server may accept the same call shortly (restarting, overloaded); false for configuration errors. */
  get transient(): boolean {
    return TRANSIENT_CONNECT_FAILURES.has(this.reason);
  }
}

const TRANSIENT_CONNECT_FAILURES = new Set<ConnectFailureReason>(['refused', 'starting-up', 'shutting-down', 'too-many-connections', 'timeout', 'pooler', 'deadline']);

/**
 * The connection dropped (server killed or restarted, backend terminated) during a call, before
 * anything of it committed: a read, a statement inside a transaction, BEGIN, or a write whose
 * statement was never sent. Nothing was committed by this call; it is safe to run it again.
 */
export class ConnectionLostError extends ConnectionError {
  override readonly name = 'ConnectionLostError';
}

/**
 * The connection dropped while a commit was in flight: COMMIT was sent, or a write running as its
 * own transaction (a plain call outside a transaction) was sent, and no answer came. The write may
 * or may not have landed. Do not retry blindly: look the row up (reconcile), then decide.
 */
export class OutcomeUnknownError extends ConnectionError {
  override readonly name = 'OutcomeUnknownError';
}

/** The statement was cancelled (pg_cancel_backend, or a cancel request): it did not take effect. */
export class QueryCancelledError extends DatabaseError {
  override readonly name = 'QueryCancelledError';
}

/**
 * The statement ran out of time: statement_timeout (57014 "canceling statement due to statement
 * timeout") or waited too long for a lock (55P03, lock_timeout or NOWAIT). It did not take effect.
 */
export class StatementTimeoutError extends DatabaseError {
  override readonly name = 'StatementTimeoutError';
  constructor(
    readonly timeout: 'statement_timeout' | 'lock_timeout',
    message: string,
    fields: PgErrorFields,
    context: QueryContext,
    options?: ErrorOptions,
  ) {
    super(message, fields, context, options);
  }
}

/**
 * Where a driver error happened, as precog-db's connection handling knows it:
 * - `connect`: opening the connection (nothing was sent);
 * - `not-sent`: the connection was already broken when the statement was to be sent;
 * - `transaction`: a statement inside a transaction (nothing commits without COMMIT);
 * - `commit`: COMMIT was sent;
 * - `autocommit`: a statement outside a transaction, its own commit if it writes.
 */
export type FaultPhase = 'connect' | 'not-sent' | 'transaction' | 'commit' | 'autocommit';

/**
 * Internal: a driver error with the phase and server it happened in, thrown by precog-db's held
 * clients and turned into a typed error by toDatabaseError (with the call's name). Never reaches callers.
 */
export class ConnectionFault extends Error {
  override readonly name = 'ConnectionFault';
  constructor(
    readonly fault: unknown,
    readonly phase: FaultPhase,
    readonly target: ConnectionTarget | undefined,
  ) {
    super(String((fault as { message?: unknown } | null)?.message ?? fault), { cause: fault });
  }
}

/**
 * Internal: the fault of a call that ran past its deadline (precog-db's `deadlineMs`), thrown by
 * its held client and typed by toDatabaseError after the phase it happened in. Never reaches callers.
 */
export class DeadlineExceeded extends Error {
  override readonly name = 'DeadlineExceeded';
  constructor(readonly ms: number) {
    super(`no answer within its deadline of ${ms} ms`);
  }
}

/**
 * Errors PgBouncer raises itself, before the statement reached any server (SQLSTATE 08P01 with
 * these texts, src/objects.c and src/janitor.c of PgBouncer 1.18 to 1.25): its login to the
 * server has been failing (server_login_retry), the statement waited in its queue for a server
 * longer than query_wait_timeout, no server answered a client's login (client_login_timeout),
 * or it refused the client (max_client_conn). Not `query_timeout`, nor "server conn crashed?":
 * those can cut a statement a server was running.
 */
const POOLER_REFUSALS = [
  /^server login has been failing\b/,
  /^query_wait_timeout$/,
  /^client_login_timeout \(server down\)$/,
  /^no more connections allowed \(max_client_conn\)$/,
];

/** Whether a driver error is a refusal of the pooler's own: nothing of that statement reached a server. */
export function isPoolerRefusal(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === '08P01' && typeof message === 'string' && POOLER_REFUSALS.some((text) => text.test(message));
}

const CONSTRAINT_CODES: Record<string, string> = {
  '23502': 'not-null',
  '23503': 'foreign-key',
  '23505': 'unique',
  '23514': 'check',
  '22P02': 'invalid-value',
  '22003': 'out-of-range',
  '22001': 'too-long',
};

export interface ErrorContext extends QueryContext {
  /** The statement only reads: a lost connection cannot have committed anything of it. */
  readOnly?: boolean;
}

export function toDatabaseError(error: unknown, context: ErrorContext): Error {
  if (error instanceof DatabaseError) return error;
  let phase: FaultPhase | undefined;
  let target: ConnectionTarget | undefined;
  if (error instanceof ConnectionFault) {
    ({ phase, target } = error);
    error = error.fault;
    if (error instanceof DatabaseError) return error;
  }
  const fields = (error ?? {}) as PgErrorFields & { message?: string };
  const code = fields.code;
  const where = `${context.name} (${context.file})`;
  const reason = redact(fields.message ?? String(error));
  const detail = fields.detail ? ` ${redact(fields.detail)}` : '';
  const options = { cause: error };
  const at = target ? ` at ${target.host}:${target.port}/${target.database}` : '';

  const server = target ? `${target.host}:${target.port}/${target.database}` : 'PostgreSQL';
  if (error instanceof DeadlineExceeded) return deadlineError(error, phase ?? 'autocommit', where, server, fields, context, target);
  if (phase === 'connect') {
    const why = connectFailureReason(code, reason);
    if (why === 'pooler') {
      return new ConnectionFailedError(
        why,
        `${where} got no server connection from the pooler at ${server}: ${reason}. Nothing reached the database server; retry once it accepts connections.`,
        fields,
        context,
        target,
        options,
      );
    }
    const next = TRANSIENT_CONNECT_FAILURES.has(why)
      ? 'retry once the server accepts connections'
      : 'check the connection settings (host, port, database, user, password)';
    return new ConnectionFailedError(why, `${where} could not connect to ${server}: ${reason}. Nothing was sent; ${next}.`, fields, context, target, options);
  }
  if (phase === 'not-sent' || isConnectionFailure(error)) {
    const inFlightCommit = phase === 'commit' || (phase === 'autocommit' && !context.readOnly);
    if (inFlightCommit) {
      const what = phase === 'commit' ? 'COMMIT was sent' : 'the write was sent as its own transaction';
      return new OutcomeUnknownError(
        `${where} lost its connection to PostgreSQL${at} while a commit was in flight (${what}): ${reason}. ` +
          'The write may or may not have been committed: look it up before retrying.',
        fields,
        context,
        target,
        options,
      );
    }
    return new ConnectionLostError(
      `${where} lost its connection to PostgreSQL${at}: ${reason}. The statement did not commit; retry once the server is back.`,
      fields,
      context,
      target,
      options,
    );
  }

  if (code && CONSTRAINT_CODES[code]) {
    const rule = fields.constraint ?? CONSTRAINT_CODES[code]!;
    const column = fields.column ?? columnOfConstraint(fields.constraint, context.params);
    const value = column && context.params && column in context.params ? context.params[column] : offendingValue(fields.detail);
    const target = [fields.table, column].filter(Boolean).join('.');
    const shown = value === undefined ? '' : ` = ${describeValue(value)}`;
    return new ConstraintViolationError(
      rule,
      column,
      value,
      `${where} refused by ${rule}${target ? ` on ${target}${shown}` : ''}: ${reason}.${detail}`,
      fields,
      context,
      options,
    );
  }
  if (code && (code.startsWith('P0') || code === '42501')) {
    // The schema's rules start their message with the rule's name: "[environment-immutable] ...".
    const rule = /\[(.+?)\]/.exec(reason)?.[1] ?? (code === '42501' ? 'permission-denied' : (fields.constraint ?? code));
    const hint = fields.hint ? ` ${fields.hint}` : '';
    return new EnvironmentRuleError(rule, `${where} broke the rule ${rule}: ${reason}.${detail}${hint}`, fields, context, options);
  }
  if (code === '40001' || code === '40P01') {
    return new RetryableConflictError(`${where} collided with a concurrent transaction: ${reason}. Retry the transaction.`, fields, context, options);
  }
  if (code === '55P03' || (code === '57014' && /statement timeout/i.test(reason))) {
    const timeout = code === '55P03' ? 'lock_timeout' : 'statement_timeout';
    return new StatementTimeoutError(
      timeout,
      `${where} ran out of time (${timeout === 'lock_timeout' ? 'waiting for a lock' : 'statement_timeout'}): ${reason}. It did not take effect.`,
      fields,
      context,
      options,
    );
  }
  if (code === '57014') {
    return new QueryCancelledError(`${where} was cancelled: ${reason}. It did not take effect.`, fields, context, options);
  }
  return new DatabaseError(`${where} failed: ${reason}.${detail}`, fields, context, options);
}

/**
 * Whether a driver error means the connection is gone: SQLSTATE class 08 or 57P (terminated,
 * crash, shutdown), a FATAL/PANIC report, a socket error, or node-postgres' own messages.
 */
export function isConnectionFailure(error: unknown): boolean {
  const { code, severity, message } = (error ?? {}) as { code?: unknown; severity?: unknown; message?: unknown };
  if (typeof code === 'string' && (code.startsWith('08') || code.startsWith('57P') || /^E[A-Z]+$/.test(code))) return true;
  if (severity === 'FATAL' || severity === 'PANIC') return true;
  return /connection terminated|connection (?:is )?(?:closed|ended)|not queryable|timeout exceeded when trying to connect|socket hang up/i.test(
    String(message ?? ''),
  );
}

/**
 * A call ended by its deadline, typed by where it stood: waiting for a connection (nothing sent:
 * ConnectionFailedError), a read or a statement before COMMIT (ConnectionLostError: nothing
 * committed, the connection is closed so the transaction rolls back), COMMIT or a lone write
 * sent and unanswered (OutcomeUnknownError).
 */
function deadlineError(
  exceeded: DeadlineExceeded,
  phase: FaultPhase,
  where: string,
  server: string,
  fields: PgErrorFields,
  context: ErrorContext,
  target: ConnectionTarget | undefined,
): Error {
  const options = { cause: exceeded };
  const ran = `${where} ran past its deadline of ${exceeded.ms} ms (deadlineMs) at ${server}`;
  if (phase === 'connect') {
    return new ConnectionFailedError('deadline', `${ran} while waiting for a connection. Nothing was sent; retry once the server accepts connections.`, fields, context, target, options);
  }
  const closed =
    phase === 'not-sent' ? 'precog-db closed the connection (an open transaction rolls back)' : 'precog-db sent a cancel request and closed the connection';
  const inFlightCommit = phase === 'commit' || (phase === 'autocommit' && !context.readOnly);
  if (inFlightCommit) {
    const what = phase === 'commit' ? 'COMMIT was sent' : 'the write was sent as its own transaction';
    return new OutcomeUnknownError(
      `${ran} while a commit was in flight (${what}, no answer); ${closed}. The write may or may not have been committed: look it up before retrying.`,
      fields,
      context,
      target,
      options,
    );
  }
  const what = phase === 'not-sent' ? 'before its next statement was sent' : 'before anything of it committed';
  return new ConnectionLostError(`${ran} ${what}; ${closed}. Nothing was committed; retry once the server answers.`, fields, context, target, options);
}

function connectFailureReason(code: string | undefined, message: string): ConnectFailureReason {
  if (code === '08P01' && /max_client_conn/.test(message)) return 'too-many-connections';
  if (isPoolerRefusal({ code, message })) return 'pooler';
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH') return 'refused';
  if (code === '57P03') return /shutting down/i.test(message) ? 'shutting-down' : 'starting-up';
  if (code === '57P01' || code === '57P02') return 'shutting-down';
  if (code === '53300' || code === '53400') return 'too-many-connections';
  if (code === '28P01' || code === '28000') return 'authentication';
  if (code === '3D000') return 'unknown-database';
  if (code === 'ETIMEDOUT' || /timeout/i.test(message)) return 'timeout';
  if (/pool after calling end/i.test(message)) return 'pool-ended';
  if (/connection terminated|ECONNRESET|socket/i.test(message)) return 'refused';
  return 'other';
}

/**
 * The parameter a CHECK constraint is about, from its name: `trades_market_price_range` is about
 * `market_price` (the longest parameter name it contains), as the schema names its constraints.
 */
function columnOfConstraint(constraint: string | undefined, params: Record<string, unknown> | undefined): string | undefined {
  if (!constraint || !params) return undefined;
  return Object.keys(params)
    .filter((name) => constraint.includes(`_${name}_`) || constraint.endsWith(`_${name}`))
    .sort((a, b) => b.length - a.length)[0];
}

function describeValue(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** "Key (ticker)=(ABC) already exists." → "ABC"; "Failing row contains (...)" is left out: too long. */
function offendingValue(detail: string | undefined): string | undefined {
  return detail ? /\)=\((.*)\)/.exec(detail)?.[1] : undefined;
}
