/**
 * The runtime half of a generated query: the statement as pgtyped's preprocessor writes it,
 * parameters encoded with the codecs, run on any connection, rows decoded.
 */
import { processSQLQueryIR } from '@pgtyped/runtime';
import type { QueryConfig, QueryResultRow } from 'pg';
import { encodeParam, type OverrideCodec, paramEncoder, parseArrayLiteral, pgTypes } from './codecs.js';
import { toDatabaseError } from './database-errors.js';
import { InvalidValueError } from './errors.js';

/**
 * Anything that runs a query: a pg Pool, Client, or a client inside a transaction.
 * Code depends on this, not on pg, so tests can hand it a client in a rolled-back transaction.
 */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(config: QueryConfig): Promise<{ rows: R[] }>;
}

/**
 * How a query meets the execution environments, decided by codegen from what it reads and writes:
 * `scoped` binds :execution_environment on every read and write of a tagged relation, `cross` is
 * marked `-- cross-environment:`, `shared` touches no tagged relation.
 */
export type QueryEnvironment = 'scoped' | 'shared' | 'cross';

/** What the code generator knows about one query, emitted into generated/. */
export interface QueryDefinition {
  /** The function name: @name in sql/, camelCased (`GetTradeById` → `getTradeById`). */
  name: string;
  /** The sql/ file the query comes from, for error messages. */
  file: string;
  /** pgtyped's intermediate representation of the statement and its parameters. */
  ir: GeneratedIR;
  /**
   * Name and PostgreSQL type of each bound parameter, by position ($1 is index 0); labels of
   * enums. With expansions, the scalar parameters only (positions are decided per call).
   */
  params: ParamDefinition[];
  /**
   * pgtyped's expansions: `:ids(...)` (spread), `:book(title, rank!)` (pick) and
   * `:books((title!, rank)...)` (picks), with the type of each element or field.
   */
  expansions?: ExpansionDefinition[];
  /** Result columns whose alias carries a pgtyped nullability hint ("col!"), mapped to their names. */
  renamedColumns: Record<string, string>;
  /**
   * Result columns that are arrays of a type pg has no parser for (enums): parsed from the
   * array literal `{a,b}` into the array the generated type says.
   */
  arrayColumns?: string[];
  /**
   * Array result columns whose elements precog.config.json declares never null
   * (`"nonNullElements"`): the type says so, and each row is checked (a null element rejects the
   * call with an InvalidValueError naming the column), so type and value agree.
   */
  nonNullElements?: string[];
  /** Type overrides (precog.config.json): codecs of result columns and parameters, by name. */
  codecs?: { results: Record<string, OverrideCodec<any>>; params: Record<string, OverrideCodec<any>> };
  /** OIDs of overridden built-in types, fetched as text for their codecs. */
  rawTypes?: number[];
  /** Columns of such a type that no override claims: parsed as usual, by OID. */
  defaultParse?: Record<string, number>;
  /**
   * Set for a query that deliberately reads several environments (`-- cross-environment: why`
   * in sql/), with the environments it may return (`-- environments: paper, backtest`).
   */
  crossEnvironment?: { reason: string; environments: string[] };
  /** Which methods offer it: scopes (`scoped`), db.crossEnvironment (`cross`), db.shared and scopes (`shared`). */
  environment: QueryEnvironment;
  /** Set by `-- scd-write:` in sql/: a new version of an SCD row, retried when a concurrent writer supersedes it. */
  scdWrite?: true;
  /**
   * How many rows it returns (`-- @returns one|maybe|many` in sql/, or inferred by codegen):
   * `one` resolves to the row, `maybe` to the row or undefined, `many` to an array.
   */
  returns: Cardinality;
}

export type Cardinality = 'one' | 'maybe' | 'many';

type ParamDefinition = { name: string; type: string; enumValues?: string[]; required?: boolean };
export type ExpansionDefinition =
  | { name: string; kind: 'spread'; element: ParamDefinition }
  | { name: string; kind: 'pick' | 'picks'; keys: (ParamDefinition & { required: boolean })[] };

/**
 * What a call resolves to, for rows of type `Row`. Rows come as a readonly array: an array of
 * `Live<Order>` aliased as an array of any environment could otherwise be pushed a paper row
 * (TypeScript's arrays are covariant); copy it (`[...rows]`) to sort or extend it.
 */
export type Returned<Row, Returns extends Cardinality> = Returns extends 'one' ? Row : Returns extends 'maybe' ? Row | undefined : readonly Row[];

/** A query annotated or inferred to return one row (or at most one) returned another number. */
export class CardinalityError extends Error {
  readonly query: string;
  readonly expected: Cardinality;
  readonly rows: number;
  constructor(query: string, expected: Cardinality, rows: number) {
    super(`${query}: expected ${expected === 'one' ? 'exactly one row' : 'at most one row'}, got ${rows}`);
    this.name = 'CardinalityError';
    this.query = query;
    this.expected = expected;
    this.rows = rows;
  }
}

/** The rows of a call, as its cardinality says: checked, then the row, undefined or the array. */
export function shapeRows(definition: Pick<QueryDefinition, 'name' | 'returns'>, rows: unknown[]): unknown {
  if (definition.returns === 'many') return rows;
  if (rows.length > 1 || (definition.returns === 'one' && rows.length === 0)) throw new CardinalityError(definition.name, definition.returns, rows.length);
  return rows[0];
}

/** pgtyped's SQLQueryIR as generated code holds it: JSON, so its enum fields are plain strings. */
export interface GeneratedIR {
  statement: string;
  usedParamSet: Record<string, true>;
  params: {
    name: string;
    required: boolean;
    transform: { type: string; keys?: { name: string; required: boolean }[] };
    locs: { a: number; b: number }[];
  }[];
}

type PgtypedIR = Parameters<typeof processSQLQueryIR>[0];

/**
 * A generated query. `Environments` is set on cross-environment queries; `Environment` is the
 * query's class (QueryEnvironment), which decides where precogDb offers it. They exist for the
 * scope types (ids need no parameter: generated/ declares them as `Id<'table'>` in Params and Result).
 */
export interface Query<
  Params,
  Result,
  Environments extends string = never,
  Environment extends QueryEnvironment = QueryEnvironment,
  Returns extends Cardinality = Cardinality,
> extends QueryDefinition {
  readonly environment: Environment;
  /**
   * The statement only reads (no INSERT, UPDATE, DELETE, MERGE, ... in its text, comments included,
   * so a doubt counts as a write): running it again after a lost connection cannot write twice.
   */
  readonly readOnly: boolean;
  readonly returns: Returns;
  /** Runs it: the row (`one`), the row or undefined (`maybe`), or every row (`many`). */
  run(params: Params, db: Queryable): Promise<Returned<Result, Returns>>;
  /**
   * Runs it and returns every row, unchecked for cardinality (the scopes check rows, then shape them).
   * `environment`, given by a scope, is the value of `execution_environment`, which `params` must
   * then not have: the same as passing `{ ...params, execution_environment: environment }`.
   */
  rows(params: Params, db: Queryable, environment?: string): Promise<Result[]>;
  /** Phantom members: let type-level code read what the query is. */
  readonly __params?: Params;
  readonly __result?: Result;
  readonly __environments?: Environments;
}

export function defineQuery<
  Params,
  Result,
  Environments extends string = never,
  Environment extends QueryEnvironment = QueryEnvironment,
  Returns extends Cardinality = 'many',
>(definition: QueryDefinition & { environment: Environment; returns: Returns }): Query<Params, Result, Environments, Environment, Returns> {
  // Without expansions the statement text is the same on every call: interpolate it once, not per call.
  const text = processSQLQueryIR(definition.ir as PgtypedIR).query;
  // Everything that depends only on the query is worked out here, once, not on every call.
  const required = new Set([
    ...definition.ir.params.filter((param) => param.required).map((param) => param.name),
    ...definition.params.filter((param) => param.required).map((param) => param.name),
  ]);
  const params = definition.params;
  const fields = params.map((param) => `${definition.name}: ${param.name}`);
  const isRequired = params.map((param) => required.has(param.name));
  const arrayParams = definition.params.filter((param) => param.type.startsWith('_'));
  const renamed = Object.entries(definition.renamedColumns);
  const readOnly = !mayWrite(text);
  const arrayColumns = definition.arrayColumns ?? [];
  const nonNullElements = definition.nonNullElements ?? [];
  const expansions = definition.expansions ?? [];
  const paramCodecs = definition.codecs?.params ?? {};
  // How each parameter is encoded, decided here: its override's codec, or the codec of its type.
  const encoders = params.map((param): ((value: unknown, field: string) => unknown) => {
    const codec = paramCodecs[param.name];
    if (codec) return (value) => (value === undefined || value === null ? null : codec.encode(value));
    return paramEncoder(param.type, param.enumValues);
  });
  const hasEnvironmentParam = params.some((param) => param.name === 'execution_environment');
  const resultCodecs = Object.entries(definition.codecs?.results ?? {});
  const defaultParse = Object.entries(definition.defaultParse ?? {}).map(([name, oid]) => [name, pgTypes.getTypeParser(oid)] as const);
  const raw = new Set(definition.rawTypes ?? []);
  const types = raw.size
    ? { getTypeParser: (oid: number, format?: 'text' | 'binary') => (raw.has(oid) ? (text: string) => text : pgTypes.getTypeParser(oid, format)) }
    : pgTypes;
  const rows = async (input: Params, db: Queryable, environment?: string): Promise<Result[]> => {
      // A scope's environment is bound without copying the caller's parameters (unless an expansion or an error needs them).
      let given = (input ?? {}) as Record<string, unknown>;
      if (environment !== undefined && (expansions.length || !hasEnvironmentParam)) {
        given = { ...given, execution_environment: environment };
        environment = undefined;
      }
      if (arrayParams.length > 1) checkArrayLengths(definition.name, arrayParams, given);
      const values: unknown[] = new Array(params.length);
      for (let index = 0; index < params.length; index++) {
        const name = params[index]!.name;
        const value = environment !== undefined && name === 'execution_environment' ? environment : given[name];
        if ((value === undefined || value === null) && isRequired[index]) {
          throw new InvalidValueError(fields[index]!, value, 'is required');
        }
        values[index] = encoders[index]!(value, fields[index]!);
      }
      let statement = { text, values };
      if (expansions.length) {
        // The statement depends on the lengths: pgtyped's preprocessor writes it per call, from encoded values.
        const encoded: Record<string, unknown> = Object.fromEntries(definition.params.map((param, index) => [param.name, values[index]]));
        for (const expansion of expansions) encoded[expansion.name] = encodeExpansion(definition.name, expansion, given[expansion.name], given.execution_environment);
        const processed = processSQLQueryIR(definition.ir as PgtypedIR, encoded as never);
        statement = { text: processed.query, values: processed.bindings };
      }
      let rows: QueryResultRow[];
      try {
        ({ rows } = await db.query({ text: statement.text, values: statement.values, types }));
      } catch (error) {
        const context = environment === undefined ? given : { ...given, execution_environment: environment };
        throw toDatabaseError(error, { name: definition.name, file: definition.file, params: context, readOnly });
      }
      if (renamed.length) renameColumns(rows, renamed);
      if (arrayColumns.length) parseArrayColumns(rows, arrayColumns);
      if (resultCodecs.length || defaultParse.length) decodeOverrides(rows, resultCodecs, defaultParse);
      if (nonNullElements.length) checkElements(definition.name, rows, nonNullElements);
      return rows as Result[];
  };
  return {
    ...definition,
    readOnly,
    rows,
    run: async (params, db) => shapeRows(definition, await rows(params, db)) as Returned<Result, Returns>,
  };
}

/**
 * One expansion's value, checked and encoded field by field. An empty list is refused here,
 * naming the parameter: `IN ()` and `VALUES` without rows are not SQL (pgtyped's issue #221).
 */
function encodeExpansion(query: string, expansion: ExpansionDefinition, value: unknown, environment: unknown): unknown {
  const field = `${query}: ${expansion.name}`;
  const encodeObject = (item: unknown, path: string) => {
    if (!item || typeof item !== 'object' || Array.isArray(item)) throw new InvalidValueError(path, item, 'must be an object');
    const keys = (expansion as Extract<ExpansionDefinition, { keys: unknown }>).keys;
    return Object.fromEntries(keys.map((key) => {
      // A picked execution_environment left out of a row is the statement's (a scope binds it once).
      const own = (item as Record<string, unknown>)[key.name];
      const given = key.name === 'execution_environment' && own === undefined ? environment : own;
      if ((given === undefined || given === null) && key.required) throw new InvalidValueError(`${path}.${key.name}`, given, 'is required');
      return [key.name, encodeParam(key.type, given ?? null, `${path}.${key.name}`, key.enumValues)];
    }));
  };
  if (expansion.kind === 'pick') return encodeObject(value, field);
  if (!Array.isArray(value)) throw new InvalidValueError(field, value, 'must be an array');
  if (value.length === 0) throw new InvalidValueError(field, value, 'must not be empty (an empty list is not SQL)');
  if (expansion.kind === 'picks') return value.map((item, index) => encodeObject(item, `${field}[${index}]`));
  const { element } = expansion as Extract<ExpansionDefinition, { kind: 'spread' }>;
  return value.map((item, index) => {
    if (item === undefined || item === null) throw new InvalidValueError(`${field}[${index}]`, item, 'is required');
    return encodeParam(element.type, item, `${field}[${index}]`, element.enumValues);
  });
}

/** Words of a statement that changes data (or may: CALL, COPY, a locking read), case-insensitive. */
const WRITES = /\b(?:insert|update|delete|merge|truncate|call|copy|do|lock|nextval|setval)\b/i;

/** Texts already judged: a query's text is the same string on every call (a bounded cache, emptied when full). */
const judged = new Map<string, boolean>();

/** Whether a statement may change data, judged from its text (a doubt counts as a write). */
export function mayWrite(text: string): boolean {
  let writes = judged.get(text);
  if (writes === undefined) {
    writes = WRITES.test(text);
    if (judged.size >= 1_000) judged.clear();
    judged.set(text, writes);
  }
  return writes;
}

/**
 * Array parameters of one query are columns of one set of rows (unnest): unnest would pad a
 * shorter one with NULLs, silently, so unequal lengths are refused here.
 */
function checkArrayLengths(query: string, arrayParams: QueryDefinition['params'], params: Record<string, unknown>): void {
  const arrays = arrayParams.filter((param) => Array.isArray(params[param.name]));
  const lengths = arrays.map((param) => (params[param.name] as unknown[]).length);
  if (new Set(lengths).size > 1) {
    const shortest = arrays[lengths.indexOf(Math.min(...lengths))]!;
    throw new InvalidValueError(
      `${query}: ${shortest.name}`,
      params[shortest.name],
      `has ${Math.min(...lengths)} elements where ${arrays[lengths.indexOf(Math.max(...lengths))]!.name} has ${Math.max(...lengths)}; ` +
        'the arrays are columns of the same rows and must have equal lengths',
    );
  }
}

function decodeOverrides(
  rows: QueryResultRow[],
  codecs: [string, OverrideCodec<unknown>][],
  defaults: (readonly [string, (text: string) => unknown])[],
): void {
  for (const row of rows) {
    for (const [column, codec] of codecs) if (row[column] !== null && row[column] !== undefined) row[column] = codec.parse(String(row[column]));
    for (const [column, parse] of defaults) if (typeof row[column] === 'string') row[column] = parse(row[column]);
  }
}

function parseArrayColumns(rows: QueryResultRow[], columns: string[]): void {
  for (const row of rows) {
    for (const column of columns) {
      if (typeof row[column] === 'string') row[column] = parseArrayLiteral(row[column]);
    }
  }
}

function renameColumns(rows: QueryResultRow[], renamed: [from: string, to: string][]): QueryResultRow[] {
  for (const row of rows) {
    for (const [from, to] of renamed) {
      row[to] = row[from];
      delete row[from];
    }
  }
  return rows;
}

/** Declared non-null elements (precog.config.json's nonNullElements) are checked, not trusted. */
function checkElements(query: string, rows: QueryResultRow[], columns: string[]): void {
  for (const row of rows) {
    for (const column of columns) {
      const value = row[column];
      if (Array.isArray(value) && value.some((element) => element === null)) {
        throw new InvalidValueError(
          `${query}: result column ${column}`,
          value,
          'holds a null element, which precog.config.json ("nonNullElements") says it never does; remove the declaration or fix the data',
        );
      }
    }
  }
}
