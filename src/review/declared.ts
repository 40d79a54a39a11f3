/**
 * Fewer words where nothing is wrong: the objects a declaration (precog_environment_table)
 * installs for a table the change declares are one line in the report, not one per partition,
 * trigger, policy, grant and comment; what is wrong with them is the guarantees' to say.
 *
 * `installedBy` answers "what did the declaration of this table install". Its triggers and its
 * one-current-version index are read from the manifest the declaration recorded
 * (precog_environment_manifest, db/framework/declaration/precog_environment_manifest_record.sql),
 * so a trigger the declaration gains is folded the day it is written. The manifest does not record
 * the rest, which is still recognised by the declaration's naming: partitions (read from the
 * catalog), the precog_*_<table> functions, grants, comments, constraints and the partitions'
 * indexes; and policies, because the manifest records every policy on the table, an author's
 * own included, so it cannot say which of them the declaration installed. Before the manifest
 * exists (a base older than migration 000017), triggers and the index fall back to the naming too.
 */
import type pg from 'pg';
import type { SchemaChange } from './schema-diff.js';

type Client = Pick<pg.ClientBase, 'query'>;

export interface Installed {
  table: string;
  kind: string;
  /** The table's partitions (environments, runs), at any depth. */
  partitions: string[];
  /** Functions generated for it, and the reference guards of the tables it references (regenerated with it). */
  functions: string[];
  /** Names of the triggers and indexes the manifest records for it; undefined without a manifest. */
  manifest?: { triggers: Set<string>; indexes: Set<string> };
}

export interface Declared {
  table: string;
  kind: string;
  /** The schema changes that are the declaration's objects. */
  objects: SchemaChange[];
}

/** The tables a migration text declares: `SELECT precog_environment_table('x', ...)`. */
export function declaredIn(texts: string[]): string[] {
  return [...new Set(texts.flatMap((text) => [...text.replace(/--.*$/gm, '').matchAll(/precog_environment_table\s*\(\s*(?:table_name\s*=>\s*)?'(\w+)'/g)].map((m) => m[1]!)))];
}

export async function installedBy(client: Client, table: string): Promise<Installed | undefined> {
  const exists = await client.query(`SELECT to_regclass('public.precog_environment_tables') IS NOT NULL AS ok`);
  if (!exists.rows[0].ok) return undefined;
  const [declaration] = (await client.query<{ kind: string }>(`SELECT kind FROM public.precog_environment_tables WHERE table_name = $1`, [table])).rows;
  if (!declaration) return undefined;
  const { rows: partitions } = await client.query<{ name: string }>(`
      WITH RECURSIVE down(oid) AS (SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = to_regclass($1)
                                   UNION SELECT i.inhrelid FROM down JOIN pg_inherits i ON i.inhparent = down.oid)
      SELECT c.relname AS name FROM down JOIN pg_class c ON c.oid = down.oid ORDER BY 1`, [`public.${table}`]);
  const { rows: referenced } = await client.query<{ name: string }>(
    `SELECT DISTINCT referenced_table AS name FROM public.precog_environment_references WHERE table_name = $1`, [table]);
  return {
    table, kind: declaration.kind,
    manifest: await readManifest(client, table),
    partitions: partitions.map((p) => p.name),
    functions: [
      ...['references', 'referenced', 'ids', 'ids_mark'].map((what) => `precog_${what}_${table}`),
      ...referenced.map((r) => `precog_referenced_${r.name}`),
    ],
  };
}

/** The names of the triggers (on any relation of the tree) and indexes the manifest records for a table. */
async function readManifest(client: Client, table: string): Promise<Installed['manifest']> {
  const exists = await client.query(`SELECT to_regclass('public.precog_environment_manifest') IS NOT NULL AS ok`);
  if (!exists.rows[0].ok) return undefined;
  const { rows } = await client.query<{ object_kind: string; name: string }>(
    `SELECT DISTINCT object_kind, name FROM public.precog_environment_manifest WHERE table_name = $1 AND object_kind IN ('trigger', 'index')`, [table]);
  const named = (kind: string) => new Set(rows.filter((r) => r.object_kind === kind).map((r) => r.name));
  return { triggers: named('trigger'), indexes: named('index') };
}

/** Triggers and policies the declaration names (a trigger or policy of another name is the author's, and shown). */
const TRIGGERS = /^(environment_|live_history_kept|backtest_)/;
const POLICIES = /^("\[environment-role\] \w+ rows only"|"\[backtest-run\] rows of the transaction's run only"|"\[backtest-run-deleted\] rows of deleted runs are gone"|environment_roles|analyst_reads_all)$/;

export function isInstalled(change: SchemaChange, installed: Installed): boolean {
  const t = installed.table;
  const relations = new Set([t, ...installed.partitions]);
  const partitions = new Set(installed.partitions);
  const functionName = (name: string) => name.replace(/\(.*$/, '');
  const [relation, member] = splitOnce(change.name);
  switch (change.kind) {
    case 'table':
      return partitions.has(change.name);
    case 'row security':
      return relations.has(change.name);
    case 'constraint':
      return partitions.has(relation) || (relation === t && member === `${t}_backtest_run_only_in_backtest`);
    case 'index':
      // the partitions' indexes are not in the manifest: recognised by their partition's name
      if (installed.partitions.some((p) => change.name.startsWith(`${p}_`))) return true;
      return installed.manifest ? installed.manifest.indexes.has(change.name) : change.name === `${t}_one_current_version`;
    case 'trigger':
      // a partition's clone of the table's trigger has the table trigger's name, recorded once for the table
      if (installed.manifest) return relations.has(relation) && installed.manifest.triggers.has(member);
      return partitions.has(relation) || (relation === t && TRIGGERS.test(member));
    case 'policy':
      return relation === t && POLICIES.test(member);
    case 'grant':
      return new RegExp(`^table ${t} to precog_\\w+$`).test(change.name);
    case 'function':
      return installed.functions.includes(functionName(change.name));
    case 'comment': {
      const [what, rest] = splitSpace(change.name);
      if (what === 'table') return partitions.has(rest);
      if (what === 'column') return rest === `${t}.backtest_run_id`;
      if (what === 'function') return installed.functions.includes(functionName(rest));
      if (what === 'policy') return rest.endsWith(` ON ${t}`) && POLICIES.test(rest.slice(0, -` ON ${t}`.length));
      if (what === 'index') return rest === `${t}_one_current_version` || (installed.manifest?.indexes.has(rest) ?? false);
      return false;
    }
    default:
      return false;
  }
}

/** The schema changes, with each declared table's objects taken out into one entry per table. */
export function foldDeclarations(changes: SchemaChange[], installed: Installed[]): { changes: SchemaChange[]; declared: Declared[] } {
  const declared = installed.map((i) => ({ table: i.table, kind: i.kind, objects: [] as SchemaChange[] }));
  const rest: SchemaChange[] = [];
  for (const change of changes) {
    const at = installed.findIndex((i) => isInstalled(change, i));
    if (at >= 0) declared[at]!.objects.push(change);
    else rest.push(change);
  }
  return { changes: rest, declared: declared.filter((d) => d.objects.length) };
}

/** `declared fills_audit as append_only: 70 objects (5 partitions, 23 triggers, ...)`. */
export function declaredLine(d: Declared): string {
  const counts = new Map<string, number>();
  for (const o of d.objects) {
    const label = o.kind === 'table' ? 'partition' : o.kind === 'row security' ? 'row-level security setting' : o.kind;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  const plural = (label: string) => (label.endsWith('y') ? `${label.slice(0, -1)}ies` : `${label}s`);
  const parts = [...counts].map(([label, n]) => `${n} ${n === 1 ? label : plural(label)}`);
  const changed = d.objects.some((o) => o.change !== 'added');
  return `declared \`${d.table}\` as ${d.kind}: ${d.objects.length} object${d.objects.length === 1 ? '' : 's'} the declaration ${changed ? 'installs or changes' : 'installs'} (${parts.join(', ')})`;
}

function splitOnce(name: string): [string, string] {
  const dot = name.indexOf('.');
  return dot < 0 ? [name, ''] : [name.slice(0, dot), name.slice(dot + 1)];
}

function splitSpace(name: string): [string, string] {
  const space = name.indexOf(' ');
  return space < 0 ? [name, ''] : [name.slice(0, space), name.slice(space + 1)];
}
