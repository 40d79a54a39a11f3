/**
 * Bulk-loading a backtest run (`db.backtests.load(run, { positions, trades })`) the way
 * PostgreSQL's documentation recommends: COPY into fresh tables without indexes, then build the
 * indexes, check every rule set-wise and attach each table as the run's partition
 * (precog_backtest_load_begin/finish, migration 000013). One transaction: a failure anywhere,
 * a bad value or a refused rule, leaves nothing behind.
 *
 * Rows are objects keyed by column. The database issues ids; a row refers to another row of the
 * same load with `rowOf('positions', index)` (the index in that table's array), which becomes the
 * id the database issued it. execution_environment and backtest_run_id are the run's, and cannot
 * be given. Money is Decimal, as everywhere.
 */
import { encodeParam } from '../runtime/codecs.js';
import { InvalidValueError } from '../runtime/errors.js';
import { toDatabaseError } from '../runtime/database-errors.js';
import type { HeldClient } from '../connection/connections.js';
import type { BacktestRunId } from './runs.js';
import type { RunLoadRows } from '../../generated/tables.js';

const REFERENCE = Symbol('precog-db row of this load');

/** A reference to the `index`-th row of `table` in the same load: where the row's id goes, typed by table. */
export interface RowReference<Table extends string = string> {
  readonly [REFERENCE]: true;
  readonly table: Table;
  readonly index: number;
}

export function rowOf<Table extends keyof RunLoadRows & string>(table: Table, index: number): RowReference<Table> {
  return Object.freeze({ [REFERENCE]: true as const, table, index });
}

/**
 * Rows by tagged table name, each typed as the table's insert (generated/tables.ts, from the
 * catalog): ids of the backtest environment or `rowOf(...)` references, money as Decimal.
 */
export type RunRows = RunLoadRows;
/** One row of tagged table `Table` for a bulk load: `LoadRow<'positions'>`. */
export type LoadRow<Table extends keyof RunLoadRows> = NonNullable<RunLoadRows[Table]>[number];
/** The untyped form the loader works on. */
type AnyRows = Readonly<Record<string, readonly Readonly<Record<string, unknown>>[] | undefined>>;

export interface LoadProgress {
  /** `copy` while a table's rows stream (every `progressEvery` rows), then `validate` and `done`. */
  phase: 'copy' | 'validate' | 'done';
  table?: string;
  rows: number;
  total: number;
}

export interface LoadOptions {
  onProgress?: (progress: LoadProgress) => void;
  /** Rows between two `copy` reports (default 100,000). */
  progressEvery?: number;
}

export interface LoadResult {
  run: BacktestRunId;
  tables: { table: string; rows: number }[];
}

interface Staging {
  table_name: string;
  staging_table: string;
  column_names: string[];
  column_types: string[];
  identity_column: string | null;
  identity_sequence: string | null;
  referenced: boolean;
}

const BOUND = new Set(['execution_environment', 'backtest_run_id']);
const CALL = { name: 'loadBacktestRun', file: 'db.backtests.load' };
/** Rows per write to the COPY stream. */
const CHUNK = 2_000;

export async function loadRun(client: HeldClient, run: string, typed: RunRows, options: LoadOptions = {}): Promise<LoadResult> {
  const rows = typed as unknown as AnyRows;
  const tables = Object.keys(rows).filter((table) => (rows[table]?.length ?? 0) > 0);
  for (const table of tables) {
    if (!Array.isArray(rows[table])) throw new InvalidValueError(table, rows[table], 'must be an array of rows');
  }
  const total = tables.reduce((sum, table) => sum + rows[table]!.length, 0);
  const progress = options.onProgress ?? (() => {});
  const every = options.progressEvery ?? 100_000;
  if (tables.length === 0) return { run: BigInt(run) as BacktestRunId, tables: [] };

  const sql = async <R>(text: string, values: unknown[] = []): Promise<R[]> => {
    try {
      return (await client.query<R & object>({ text, values })).rows;
    } catch (error) {
      throw toDatabaseError(error, CALL);
    }
  };
  // A load is of the run its transaction entered (precog_backtest_load_run_entered).
  await sql('SELECT public.precog_enter_backtest_run($1::bigint)', [run]);
  const staged = await sql<Staging>('SELECT * FROM public.precog_backtest_load_begin($1, $2)', [run, tables]);

  // Ids for the rows other rows of the load refer to, issued by the database before the COPY.
  const issued = new Map<string, (number | string)[]>();
  for (const stage of staged) {
    if (!stage.referenced || !stage.identity_sequence) continue;
    const ids = await sql<{ id: string }>(`SELECT pg_catalog.nextval($1::regclass)::text AS id FROM generate_series(1, $2::integer)`, [
      stage.identity_sequence,
      rows[stage.table_name]!.length,
    ]);
    issued.set(stage.table_name, ids.map((row) => row.id));
  }

  let copied = 0;
  for (const stage of staged) {
    const table = stage.table_name;
    const list = rows[table]!;
    const types = new Map(stage.column_names.map((name, i) => [name, stage.column_types[i]!]));
    const ids = issued.get(table);
    const given = columnsOf(table, list, types, stage.identity_column);
    const columns = ids && stage.identity_column ? [stage.identity_column, ...given] : given;
    const encoders = given.map((column) => encoderFor(table, column, types.get(column)!, issued));
    const lines = function* () {
      for (let start = 0; start < list.length; start += CHUNK) {
        let chunk = '';
        const end = Math.min(list.length, start + CHUNK);
        for (let i = start; i < end; i++) {
          const row = list[i]!;
          let line = ids ? `${ids[i]}\t` : '';
          for (let c = 0; c < given.length; c++) {
            if (c) line += '\t';
            line += encoders[c]!(row[given[c]!], i);
          }
          chunk += line + '\n';
        }
        yield chunk;
        const before = copied;
        copied += end - start;
        if (Math.floor(copied / every) > Math.floor(before / every) || end === list.length) progress({ phase: 'copy', table, rows: copied, total });
      }
    };
    try {
      await client.copyFrom(`COPY public.${quote(stage.staging_table)} (${columns.map(quote).join(', ')}) FROM STDIN`, lines());
    } catch (error) {
      // A bad value found while the rows stream (a float for money) is the caller's, as it is
      // for a query parameter: an InvalidValueError naming the row and column, not a database error.
      if (error instanceof InvalidValueError) throw error;
      throw toDatabaseError(error, CALL);
    }
  }
  progress({ phase: 'validate', rows: copied, total });
  const loaded = await sql<{ table_name: string; rows_loaded: string }>('SELECT * FROM public.precog_backtest_load_finish($1)', [run]);
  progress({ phase: 'done', rows: copied, total });
  return { run: BigInt(run) as BacktestRunId, tables: loaded.map((row) => ({ table: row.table_name, rows: Number(row.rows_loaded) })) };
}

/** The columns the rows give (the first row's, which every row must match), checked against the table. */
function columnsOf(table: string, list: readonly Readonly<Record<string, unknown>>[], types: Map<string, string>, identity: string | null): string[] {
  const columns = Object.keys(list[0]!);
  for (const column of columns) {
    if (BOUND.has(column)) throw new InvalidValueError(`${table}[0].${column}`, list[0]![column], `is the run's own: leave ${column} out of loaded rows`);
    if (column === identity) throw new InvalidValueError(`${table}[0].${column}`, list[0]![column], 'is issued by the database: leave it out (refer to a loaded row with rowOf(table, index))');
    if (!types.has(column)) throw new InvalidValueError(`${table}[0].${column}`, list[0]![column], `is not a column of ${table}`);
  }
  const expected = new Set(columns);
  list.forEach((row, i) => {
    const keys = Object.keys(row);
    if (keys.length !== columns.length || keys.some((key) => !expected.has(key))) {
      throw new InvalidValueError(`${table}[${i}]`, row, `must have the same columns as ${table}[0] (${columns.join(', ')})`);
    }
  });
  return columns;
}

/** Value → COPY text of one column, validated as a query parameter would be (no float for NUMERIC). */
function encoderFor(table: string, column: string, type: string, issued: Map<string, (number | string)[]>): (value: unknown, row: number) => string {
  if (type.startsWith('_')) {
    throw new InvalidValueError(`${table}.${column}`, undefined, 'is an array column, which the bulk load does not encode; write such rows through the scope');
  }
  return (value, row) => {
    if (value === null || value === undefined) return '\\N';
    if (typeof value === 'object' && REFERENCE in value) {
      const reference = value as RowReference;
      const id = issued.get(reference.table)?.[reference.index];
      if (id === undefined) {
        throw new InvalidValueError(`${table}[${row}].${column}`, value, `refers to ${reference.table}[${reference.index}], which is not a row of this load`);
      }
      return String(id);
    }
    const encoded = encodeParam(type, value, `${table}[${row}].${column}`);
    const text = encoded instanceof Date ? encoded.toISOString() : String(encoded);
    return escapeCopy(text);
  };
}

function escapeCopy(text: string): string {
  return /[\\\n\r\t]/.test(text) ? text.replace(/[\\\n\r\t]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!) : text;
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
