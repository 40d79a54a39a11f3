/**
 * How many rows each backtest run holds, per tagged table (the tables from the registry), for
 * `npm run backtests -- list` and the confirmation of `delete`. Every run's rows are in one
 * backtest partition per table (migration 000018), whose indexes lead with the run, so a count
 * reads that run's index entries only; each is counted exactly up to CAP rows, and beyond it
 * shown as more than CAP, so listing a run of millions of rows stays cheap.
 */
import type { Queryable } from '../runtime/query.js';

/** Rows counted exactly per table; more is shown as "more than CAP". */
export const CAP = 100_000;

export interface TableCount {
  table: string;
  /** Exact when `exact`, else CAP + 1 (more than CAP). */
  rows: number;
  exact: boolean;
}

/** The run's row counts, one per tagged table, in the registry's table order. */
export async function runRowCounts(db: Queryable, run: bigint | string): Promise<TableCount[]> {
  const { rows: tables } = await db.query<{ table_name: string; partition: string }>({
    text: `SELECT d.table_name, public.precog_environment_partition(format('public.%I', d.table_name)::regclass, 'backtest')::text AS partition
             FROM public.precog_environment_tables d ORDER BY d.table_name`,
  });
  if (!tables.length) return [];
  // One statement for every table (a handful), each reading the run's entries only.
  const counts = tables
    .map((row, i) => `SELECT ${i} AS i, count(*)::int8 AS n FROM (SELECT FROM ${row.partition} WHERE backtest_run_id = $1::bigint LIMIT ${CAP + 1}) x`)
    .join(' UNION ALL ');
  const { rows } = await db.query<{ i: number; n: string }>({ text: counts, values: [String(run)] });
  const byIndex = new Map(rows.map((row) => [Number(row.i), Number(row.n)]));
  return tables.map((row, i) => {
    const n = byIndex.get(i) ?? 0;
    return { table: row.table_name, rows: n, exact: n <= CAP };
  });
}

/** `positions 6, trades 3` (tables with rows only), `>100000` beyond CAP; `no rows`. */
export function describeCounts(counts: TableCount[]): string {
  const held = counts.filter((count) => count.rows > 0);
  if (!held.length) return 'no rows';
  return held.map((count) => `${count.table} ${count.exact ? count.rows : `>${CAP}`}`).join(', ');
}
