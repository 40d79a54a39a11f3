/**
 * Which relations are environment-tagged, read from the codegen database's catalog: every table,
 * view or materialized view in schema public with an execution_environment column. A partitioned
 * table counts once, by its parent's name; its partitions are mapped to that root, so a query
 * that names `trades_live` is judged as a read of `trades`.
 */
import { ENVIRONMENT_COLUMN as ENV_COLUMN } from '../domain/environment.js';
import type { Node } from '../parser/pg-ast.js';
import type { Queryable } from '../runtime/query.js';

export interface TaggedRelations {
  tagged: Set<string>;
  /** Partition name → the name of its root partitioned table. */
  partitionRoots: Map<string, string>;
  /** Tables with the column that precog_environment_tables does not declare: no guard, policy or partition protects them. */
  undeclared?: Set<string>;
}

export async function taggedRelations(client: Queryable): Promise<TaggedRelations> {
  const { rows } = (await client.query({
    text: `SELECT c.relname,
              CASE WHEN c.relispartition THEN (SELECT r.relname FROM pg_class r WHERE r.oid = pg_partition_root(c.oid)) END AS root
         FROM pg_class c
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        ORDER BY c.relname`,
    values: [ENV_COLUMN],
  })) as { rows: { relname: string; root: string | null }[] };
  // Before migration 000010 there is no registry: nothing is declared, and nothing is refused for it.
  const { rows: [registry] } = (await client.query({ text: `SELECT to_regclass('public.precog_environment_tables') IS NOT NULL AS ok` })) as { rows: { ok: boolean }[] };
  const { rows: undeclared } = registry?.ok
    ? ((await client.query({
      text: `SELECT c.relname FROM pg_class c
                JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND a.attnum > 0 AND NOT a.attisdropped
               WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                 AND NOT EXISTS (SELECT FROM public.precog_environment_tables d WHERE d.table_name = c.relname)`,
      values: [ENV_COLUMN],
    })) as { rows: { relname: string }[] })
    : { rows: [] };
  return {
    undeclared: new Set(undeclared.map((row) => row.relname)),
    tagged: new Set(rows.filter((row) => !row.root).map((row) => row.relname)),
    partitionRoots: new Map(rows.filter((row) => row.root).map((row) => [row.relname, row.root!])),
  };
}

/** Renames every reference to a partition (in place) to its root table. */
export function toPartitionRoots(node: Node, roots: Map<string, string>): void {
  if (Array.isArray(node)) {
    for (const item of node) toPartitionRoots(item, roots);
  } else if (node && typeof node === 'object') {
    const rangeVar = node.RangeVar;
    if (rangeVar && (!rangeVar.schemaname || rangeVar.schemaname === 'public') && roots.has(rangeVar.relname)) {
      rangeVar.relname = roots.get(rangeVar.relname);
    }
    for (const value of Object.values(node)) toPartitionRoots(value, roots);
  }
}
