/**
 * How each PostgreSQL type crosses into TypeScript: the type the code generator emits and the
 * runtime parser and encoder that make the values match it. Declared once, here, so the types
 * cannot drift from the values (test/runtime/codecs.test.ts checks them against the server).
 *
 * Money is NUMERIC in the database and Decimal here, never a float: a JavaScript number is
 * refused where NUMERIC is expected, because 0.1 + 0.2 is not 0.3.
 */
import { Decimal } from 'decimal.js';
import pg from 'pg';
import { InvalidValueError } from './errors.js';
import { parseNumeric } from './numeric.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Codec {
  /** TypeScript type of a result value. */
  result: string;
  /** TypeScript type accepted for a parameter. */
  param: string;
  /** Text from the server to the result value; absent: pg's own parser is right. */
  parse?: (text: string) => unknown;
  /** Parameter value to what pg sends; absent: pg's own serialisation is right. */
  encode?: (value: unknown, field: string) => unknown;
}

const text: Codec = { result: 'string', param: 'string' };
const int: Codec = { result: 'number', param: 'number', encode: (value, field) => encodeInt32(value, field) };
const float: Codec = { result: 'number', param: 'number' };

export const CODECS: Record<string, Codec> = {
  // parseNumeric: the Decimal new Decimal(text) gives, built in one pass (src/runtime/numeric.ts).
  numeric: { result: 'Decimal', param: 'Decimal', parse: parseNumeric, encode: encodeDecimal },
  // int8 (and count(*)) can exceed 2^53: bigint keeps it exact.
  int8: { result: 'bigint', param: 'bigint | number', parse: (value) => BigInt(value), encode: encodeInteger },
  int4: int,
  int2: int,
  oid: { result: 'number', param: 'number' },
  float4: float,
  float8: float,
  bool: { result: 'boolean', param: 'boolean' },
  text,
  varchar: text,
  bpchar: text,
  name: text,
  uuid: text,
  citext: text,
  // A calendar date has no time zone; a Date object would invent one. ISO 'YYYY-MM-DD' text.
  date: { result: 'string', param: 'string', parse: (value) => value },
  timestamptz: { result: 'Date', param: 'Date', encode: encodeDate },
  timestamp: { result: 'Date', param: 'Date', encode: encodeDate },
  interval: text,
  json: { result: 'Json', param: 'Json', encode: encodeJson },
  jsonb: { result: 'Json', param: 'Json', parse: (value) => JSON.parse(value), encode: encodeJson },
  bytea: { result: 'Buffer', param: 'Buffer' },
  void: { result: 'undefined', param: 'undefined' },
};

/**
 * A type override's codec (precog.config.json): how the text PostgreSQL sends becomes a `T`,
 * and how a `T` is sent. Properties, not methods, so `T` is checked both ways: generated code
 * passes it through `overrideCodec<DeclaredType>(codec)`, which fails to compile when the
 * declared type and the codec's disagree.
 */
export interface OverrideCodec<T> {
  readonly parse: (text: string) => T;
  readonly encode: (value: T) => string | number | boolean | Buffer;
}

/** Declares a codec for precog.config.json's `typeOverrides`. */
export function defineCodec<T>(codec: OverrideCodec<T>): OverrideCodec<T> {
  return codec;
}

/** What generated code wraps each override's codec in: the emitted type must be the codec's. */
export function overrideCodec<T>(codec: OverrideCodec<T>): OverrideCodec<T> {
  return codec;
}

/** The type a codec decodes to. */
export type CodecType<C> = C extends OverrideCodec<infer T> ? T : never;

/** pg's own parser for text[] (OID 1009) splits any array literal into its element strings. */
const parseTextArray = (pg.types.getTypeParser as (oid: number) => (text: string) => (string | null)[])(1009);
/** A PostgreSQL array literal (`{novel,thriller}`, `{{a},{b}}`) into its element strings (and nulls). */
export const parseArrayLiteral = (value: string): unknown[] => parseTextArray(value);
const parseArray = (value: string, parse: (text: string) => unknown): unknown[] =>
  parseTextArray(value).map((item) => (item === null ? null : parse(item)));

/** Our parsers by OID, built once: pg asks for one per column of every result. */
const PARSERS = new Map<number, (text: string) => unknown>();
for (const [name, oid, arrayOid] of [
  ['numeric', 1700, 1231],
  ['int8', 20, 1016],
  ['date', 1082, 1182],
  ['jsonb', 3802, 3807],
] as const) {
  const parse = CODECS[name]!.parse!;
  PARSERS.set(oid, parse);
  PARSERS.set(arrayOid, (value) => parseArray(value, parse));
}

/** Result parsers for pg's per-query `types` option: our queries never depend on global pg state. */
export const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    return (format !== 'binary' && PARSERS.get(oid)) || pg.types.getTypeParser(oid, format);
  },
};

/**
 * Encodes one parameter for a column of PostgreSQL type `pgType` (`_x` is an array of x);
 * `enumValues` are the labels of an enum type, checked here so a typo names the allowed values.
 */
export function encodeParam(pgType: string, value: unknown, field: string, enumValues?: readonly string[]): unknown {
  if (value === null || value === undefined) return null;
  if (pgType.startsWith('_')) {
    if (!Array.isArray(value)) throw new InvalidValueError(field, value, 'must be an array');
    const element = pgType.slice(1);
    return value.map((item, index) => encodeParam(element, item, `${field}[${index}]`, enumValues));
  }
  if (enumValues && !enumValues.includes(value as string)) {
    throw new InvalidValueError(field, value, `must be one of ${enumValues.join(', ')}, got ${JSON.stringify(value)}`);
  }
  const encode = CODECS[pgType]?.encode;
  return encode ? encode(value, field) : value;
}

/**
 * encodeParam for one parameter, with what depends on its type alone (codec, array or enum)
 * looked up once: generated queries build one per parameter when they are defined.
 */
export function paramEncoder(pgType: string, enumValues?: readonly string[]): (value: unknown, field: string) => unknown {
  if (pgType.startsWith('_')) return (value, field) => encodeParam(pgType, value, field, enumValues);
  const encode = CODECS[pgType]?.encode;
  return (value, field) => {
    if (value === null || value === undefined) return null;
    if (enumValues && !enumValues.includes(value as string)) {
      throw new InvalidValueError(field, value, `must be one of ${enumValues.join(', ')}, got ${JSON.stringify(value)}`);
    }
    return encode ? encode(value, field) : value;
  };
}

function encodeDecimal(value: unknown, field: string): string {
  if (!Decimal.isDecimal(value)) {
    const got = typeof value === 'number' ? `the JavaScript number ${value}` : `${typeof value} ${JSON.stringify(value)}`;
    throw new InvalidValueError(field, value, `must be a Decimal (money is never a float), got ${got}; use new Decimal('0.55')`);
  }
  if (!value.isFinite()) throw new InvalidValueError(field, value, `must be a finite Decimal, got ${value.toString()}`);
  return value.toFixed();
}

function encodeInteger(value: unknown, field: string): string {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw new InvalidValueError(field, value, 'must be a bigint or a safe integer');
}

function encodeInt32(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && Math.abs(value) <= 2 ** 31 - 1) return value;
  throw new InvalidValueError(field, value, `must be a whole number within ±2147483647, got ${typeof value === 'number' ? value : typeof value}`);
}

function encodeDate(value: unknown, field: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new InvalidValueError(field, value, 'must be a valid Date');
  }
  return value;
}

/** Always JSON text: pg would send a JavaScript array as a PostgreSQL array, not as JSON. */
function encodeJson(value: unknown, field: string): string {
  const problem = jsonProblem(value, field);
  if (problem) throw new InvalidValueError(problem.path, problem.value, problem.reason);
  return JSON.stringify(value);
}

function jsonProblem(value: unknown, path: string): { path: string; value: unknown; reason: string } | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') {
    return Number.isFinite(value) ? undefined : { path, value, reason: 'must be JSON: a finite number' };
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const problem = jsonProblem(item, `${path}[${index}]`);
      if (problem) return problem;
    }
    return undefined;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [key, item] of Object.entries(value)) {
      const problem = jsonProblem(item, `${path}.${key}`);
      if (problem) return problem;
    }
    return undefined;
  }
  return { path, value, reason: `must be JSON (object, array, string, finite number, boolean or null), got ${typeof value}` };
}
