/**
 * How many rows each backtest run holds, per tagged table (the tables from the registry), for
 * `npm run backtests -- list` and the confirmation of `delete`. A run's rows are partitions of
 * their own, so a count reads that run's partitions only; each is counted exactly up to CAP
 * rows, and beyond it the planner's estimate (pg_class.reltuples) is shown instead, so listing
 * a run of millions of rows stays cheap.
 */
import type { Queryable } from '../runtime/query.js';

/** Rows counted exactly per partition; more is estimated. */
export const CAP = 100_000;

export interface TableCount {
  table: string;
  /** Exact when `exact`, else the estimate (at least CAP). */
  rows: number;
  exact: boolean;
}

/** The run's row counts, one per tagged table, in the registry's table order. */
export async function runRowCounts(db: Queryable, run: bigint | string): Promise<TableCount[]> {
  const { rows: partitions } = await db.query<{ table_name: string; partition: string | null; estimate: number | null }>({
    text: `SELECT d.table_name, p::text AS partition, c.reltuples::float8 AS estimate
             FROM public.precog_environment_tables d
             CROSS JOIN LATERAL public.precog_backtest_run_partition(format('public.%I', d.table_name)::regclass, $1::bigint) p
             LEFT JOIN pg_catalog.pg_class c ON c.oid = p
            ORDER BY d.table_name`,
    values: [String(run)],
  });
  const present = partitions.filter((row) => row.partition !== null);
  if (!present.length) return partitions.map((row) => ({ table: row.table_name, rows: 0, exact: true }));
  // One statement for the run's partitions (a handful: one per tagged table).
  const counts = present
    .map((row, i) => `SELECT ${i} AS i, count(*)::int8 AS n FROM (SELECT FROM ${row.partition} LIMIT ${CAP + 1}) x`)
    .join(' UNION ALL ');
  const { rows } = await db.query<{ i: number; n: string }>({ text: counts });
  const byIndex = new Map(rows.map((row) => [Number(row.i), Number(row.n)]));
  return partitions.map((row) => {
    const i = present.indexOf(row);
    if (i < 0) return { table: row.table_name, rows: 0, exact: true };
    const n = byIndex.get(i) ?? 0;
    if (n <= CAP) return { table: row.table_name, rows: n, exact: true };
    return { table: row.table_name, rows: Math.max(CAP + 1, Math.round(row.estimate ?? 0)), exact: false };
  });
}

/** `positions 6, trades 3` (tables with rows only), `~1200000` for an estimate; `no rows`. */
export function describeCounts(counts: TableCount[]): string {
  const held = counts.filter((count) => count.rows > 0);
  if (!held.length) return 'no rows';
  return held.map((count) => `${count.table} ${count.exact ? count.rows : `~${count.rows}`}`).join(', ');
}
