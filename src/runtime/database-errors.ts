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

/** The server could not be reached, or the connection dropped mid-query. Nothing was committed by this call. */
export class ConnectionLostError extends DatabaseError {
  override readonly name: string = 'ConnectionLostError';
}

/**
 * The pool never reached the server (refused, unknown host, timed out, authentication or
 * database refused): nothing was sent. A ConnectionLostError, so code that retries those still does.
 */
export class CannotConnectError extends ConnectionLostError {
  override readonly name: string = 'CannotConnectError';
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

export function toDatabaseError(error: unknown, context: QueryContext): Error {
  if (error instanceof DatabaseError) return error;
  const fields = (error ?? {}) as PgErrorFields & { message?: string };
  const code = fields.code;
  const where = `${context.name} (${context.file})`;
  const reason = redact(fields.message ?? String(error));
  const detail = fields.detail ? ` ${redact(fields.detail)}` : '';
  const options = { cause: error };

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
  const refused = cannotConnect(error, code);
  if (refused) {
    return new CannotConnectError(
      `${where} could not connect to PostgreSQL${refused}: ${reason}. Nothing was sent; check that the server runs and that ` +
        'the connection settings (DATABASE_URL, the pool options) name it, its user, password and database.',
      fields,
      context,
      options,
    );
  }
  if (isConnectionFailure(code, reason)) {
    return new ConnectionLostError(
      `${where} lost its connection to PostgreSQL: ${reason}. The statement did not commit; retry once the server is back.`,
      fields,
      context,
      options,
    );
  }
  if (!code) return error instanceof Error ? error : new Error(reason);
  return new DatabaseError(`${where} failed: ${reason}.${detail}`, fields, context, options);
}

/** ` at host:port` (or '') when `error` says the connection was never established; undefined otherwise. */
function cannotConnect(error: unknown, code: string | undefined): string | undefined {
  const fields = (error ?? {}) as { syscall?: string; address?: string; port?: number; hostname?: string };
  if (fields.syscall === 'connect' || fields.syscall === 'getaddrinfo') {
    const host = fields.hostname ?? fields.address;
    return host ? ` at ${host}${fields.port ? `:${fields.port}` : ''}` : '';
  }
  // Refused at start-up: authentication (28P01, 28000), no such database (3D000), too many clients.
  if (code === '28P01' || code === '28000' || code === '3D000' || code === '53300') return '';
  if (/timeout expired|Connection terminated due to connection timeout/i.test((error as Error | undefined)?.message ?? '')) return '';
  return undefined;
}

function isConnectionFailure(code: string | undefined, message: string): boolean {
  if (code) return code.startsWith('08') || code.startsWith('57P') || /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT)$/.test(code);
  return /connection terminated|connection (?:is )?(?:closed|ended)|not queryable/i.test(message);
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
