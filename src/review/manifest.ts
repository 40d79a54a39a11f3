/**
 * The catalog against the manifest: what precog_environment_table() recorded, right after
 * installing it, in precog_environment_manifest (db/framework/declaration/
 * precog_environment_manifest_record.sql). Every trigger the declaration installed must still be
 * on every relation of its role (the table, each environment's partition),
 * enabled, with the definition recorded; every index it installed must still be there as recorded.
 * A rule the declaration gains is checked here the day it is written, with no list to update.
 */
import type pg from 'pg';
import { type Finding, finding } from '../lint/finding.js';

type Client = Pick<pg.ClientBase, 'query'>;

interface ManifestRow {
  object_kind: 'trigger' | 'policy' | 'index';
  relation_role: string;
  name: string;
  definition: string;
  rules: string[];
  about: string;
}

/** The relations of a tagged table's tree, by role, as precog_environment_manifest_record() names them. */
const TREE = `
  WITH tree(relation, role) AS (
    SELECT to_regclass($1), 'table'::text COLLATE "C"
    UNION ALL
    SELECT i.inhrelid::regclass,
           coalesce(substring(pg_get_expr(c.relpartbound, c.oid) FROM '^FOR VALUES IN \\(''(\\w+)''\\)$'), 'environment_missing') COLLATE "C"
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1))`;

/**
 * Points for one declared table. `redeclare` is the statement that reinstalls what it declared.
 * The comparison runs with the search_path the manifest was recorded with, so that definitions
 * deparse alike.
 */
export async function manifestFindings(client: Client, table: string, redeclare: string): Promise<Finding[]> {
  const points: Finding[] = [];
  const exists = await client.query(`SELECT to_regclass('public.precog_environment_manifest') IS NOT NULL AS ok`);
  if (!exists.rows[0].ok) return points;
  const [{ search_path }] = (await client.query<{ search_path: string }>(`SELECT current_setting('search_path') AS search_path`)).rows as [{ search_path: string }];
  await client.query(`SELECT set_config('search_path', 'pg_catalog, public, pg_temp', true)`);
  try {
    const manifest = (await client.query<ManifestRow>(
      `SELECT object_kind, relation_role, name, definition, rules, about FROM public.precog_environment_manifest WHERE table_name = $1 AND object_kind IN ('trigger', 'index') ORDER BY 1, 2, 3`,
      [table],
    )).rows;
    const tree = (await client.query<{ relation: string; role: string }>(`${TREE} SELECT relation::text AS relation, role FROM tree ORDER BY 2, 1`, [`public.${table}`])).rows;
    const fix = `declare the table again (\`${redeclare}\`): it reinstalls what the declaration installed`;
    for (const row of manifest.filter((m) => m.object_kind === 'trigger')) {
      const rule = row.rules.length ? row.rules.join(', ') : 'what it guarantees';
      for (const { relation } of tree.filter((r) => r.role === row.relation_role)) {
        const [trigger] = (await client.query<{ enabled: string; definition: string }>(
          `SELECT g.tgenabled AS enabled, replace(pg_get_triggerdef(g.oid), ' ON ' || g.tgrelid::regclass::text || ' ', ' ON {relation} ') AS definition
             FROM pg_trigger g WHERE g.tgrelid = $1::regclass AND g.tgname = $2 AND g.tgparentid = 0`,
          [relation, row.name],
        )).rows;
        const object = `${relation}.${row.name}`;
        if (!trigger) {
          points.push(finding('guarantee/guard-trigger', object, `guard trigger ${row.name} on ${relation} is gone: ${rule} no longer holds — it was: ${row.about}`, fix));
        } else if (trigger.enabled === 'D' || trigger.enabled === 'R') {
          points.push(finding('guarantee/guard-trigger', object, `guard trigger ${row.name} on ${relation} is disabled: ${rule} no longer holds — it was: ${row.about}`, `ALTER TABLE ${relation} ENABLE TRIGGER ${row.name}, or ${fix}`));
        } else if (trigger.definition !== row.definition) {
          points.push(finding('guarantee/guard-trigger', object,
            `guard trigger ${row.name} on ${relation} is not the one the declaration installed (${rule}): it is \`${trigger.definition.replace('{relation}', relation)}\`, the declaration installed \`${row.definition.replace('{relation}', relation)}\``, fix));
        }
      }
    }
    for (const row of manifest.filter((m) => m.object_kind === 'index')) {
      const [index] = (await client.query<{ definition: string }>(
        `SELECT replace(pg_get_indexdef(c.oid), ' ON ' || i.indrelid::regclass::text || ' ', ' ON {relation} ') AS definition
           FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.oid = to_regclass($1)`,
        [`public.${row.name}`],
      )).rows;
      if (!index || index.definition !== row.definition) {
        points.push(finding(row.name.endsWith('_one_current_version') ? 'guarantee/one-current-version' : 'guarantee/declared-index', row.name,
          `${index ? `index ${row.name} is not the one the declaration installed (\`${index.definition}\`)` : `index ${row.name} is gone`}: ${row.about || 'the declaration installed it'}`,
          `${fix}; it recreates ${row.name}`));
      }
    }
  } finally {
    await client.query(`SELECT set_config('search_path', $1, true)`, [search_path]);
  }
  return points;
}
