/**
 * Which columns identify a row of an environment-tagged table, read from the catalog (not from
 * names written in src/): the code generator brands exactly these as `Id<'table'>` or
 * `Key<'table'>`, so a new tagged table's ids are branded the day its migration lands.
 *
 * - A tagged table is a table of schema public with an `execution_environment` column. Its
 *   partitions stand for it (a constraint declared on `trades_live` is one of `trades`'s).
 *   Views are not tagged tables: they have no keys of their own (but a view column that is an
 *   id column of a table is branded like it).
 * - Its id: the primary key minus execution_environment, when one column remains; or, once the
 *   table has backtest runs (migration 000013 turns its primary key into a unique key that
 *   includes backtest_run_id), the unique key that is one identity column besides those two.
 * - Its business key: `precog_environment_tables.business_key` when that registry exists (a
 *   single column other than execution_environment), else the column of a partial unique
 *   index on (column, execution_environment), SCD-2's "one current row per key".
 * - Every foreign key column (anywhere) referencing a tagged table's id identifies that table, and
 *   so does every reference between tagged tables in `precog_environment_references`.
 * - A tagged table that references another's id and also carries its business key (a column of
 *   the same name and type as the referenced table's key: settlements.position_id → positions.id
 *   beside settlements.position_key) carries that key: the column is `Key<'positions'>`.
 *
 * A column that merely shares a name (Kalshi's text `trades.order_id`, no foreign key) is not
 * an id: only the catalog's keys and constraints count.
 */
import { ENVIRONMENT_COLUMN as ENV_COLUMN, readRegistry, REGISTRY, RUN_COLUMN } from '../domain/environment.js';
import type { Queryable } from '../runtime/query.js';

export const REGISTRY_TABLE = REGISTRY;
export const REFERENCES_TABLE = 'precog_environment_references';

/** What a column identifies: the id or the business key of tagged table `table`. */
export interface Identity {
  table: string;
  kind: 'id' | 'key';
}

export interface TaggedTable {
  name: string;
  oid: number;
  /** The surrogate id column, when the primary key is (one column, execution_environment). */
  idColumn: string | undefined;
  /** The business key column, when there is exactly one. */
  keyColumn: string | undefined;
}

export interface EnvironmentModel {
  /** Root tagged tables (partitions are folded into their root), by name. */
  tables: TaggedTable[];
  /** By relation OID and attribute number, as a RowDescription reports a result column. */
  identifyAttribute(relationOid: number, attnum: number): Identity | undefined;
  /** By table name (a partition's name stands for its root) and column name. */
  identifyColumn(table: string, column: string): Identity | undefined;
}

interface RelationRow { oid: number; name: string; root_oid: number; root: string; tagged: boolean }
interface AttributeRow { oid: number; attnum: number; attname: string; atttypid: number }
interface KeyRow { oid: number; columns: string[] }
interface ForeignKeyRow { oid: number; ref_oid: number; columns: string[]; ref_columns: string[] }

export async function readEnvironmentModel(client: Queryable): Promise<EnvironmentModel> {
  // OIDs are unsigned 32-bit: read as int8 (text from pg), then numbers.
  const query = async <R>(text: string): Promise<R[]> =>
    (await client.query({ text })).rows.map((row) => numeric(row, ['oid', 'root_oid', 'ref_oid', 'attnum', 'atttypid'])) as R[];
  // Every table of public (partitions included) with its partition root; tagged when the root has the column.
  const relations = await query<RelationRow>(`
    SELECT c.oid::int8 AS oid, c.relname AS name, r.oid::int8 AS root_oid, r.relname AS root,
           EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = r.oid AND a.attname = '${ENV_COLUMN}' AND NOT a.attisdropped) AS tagged
      FROM pg_class c
      JOIN pg_class r ON r.oid = coalesce(pg_partition_root(c.oid), c.oid)
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')`);
  const attributes = await query<AttributeRow>(`
    SELECT a.attrelid::int8 AS oid, a.attnum::int8 AS attnum, a.attname::text AS attname, a.atttypid::int8 AS atttypid
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped`);
  const columnsOf = (keys: string, rel: string) =>
    `ARRAY(SELECT a.attname::text FROM unnest(${keys}) WITH ORDINALITY k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = ${rel} AND a.attnum = k.attnum ORDER BY k.n)`;
  const primaryKeys = await query<KeyRow>(`
    SELECT con.conrelid::int8 AS oid, ${columnsOf('con.conkey', 'con.conrelid')} AS columns
      FROM pg_constraint con
     WHERE con.connamespace = 'public'::regnamespace
       AND (con.contype = 'p' OR (con.contype = 'u' AND EXISTS (
             SELECT FROM unnest(con.conkey) key(attnum) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = key.attnum
              WHERE a.attidentity <> '')))
     ORDER BY con.contype`);
  // Partial unique indexes on plain columns: SCD-2's one current row per business key.
  const partialUniques = await query<KeyRow>(`
    SELECT i.indrelid::int8 AS oid, ${columnsOf('i.indkey::int2[]', 'i.indrelid')} AS columns
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
     WHERE c.relnamespace = 'public'::regnamespace AND i.indisunique AND i.indpred IS NOT NULL AND i.indexprs IS NULL`);
  const foreignKeys = await query<ForeignKeyRow>(`
    SELECT conrelid::int8 AS oid, confrelid::int8 AS ref_oid,
           ${columnsOf('conkey', 'conrelid')} AS columns, ${columnsOf('confkey', 'confrelid')} AS ref_columns
      FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace`);
  // The business keys, from the domain module's reader of the registry (undefined before it exists).
  const declarations = await readRegistry(client);
  const registry = declarations && new Map(declarations.map((d) => [d.table_name, d.business_key]));
  // Foreign keys between tagged tables become same-environment references checked per statement
  // (migration 000010): they identify the referenced table exactly as a constraint would.
  foreignKeys.push(...(await readReferences(query, new Map(relations.map((row) => [row.name, row.oid])))));

  const relation = new Map(relations.map((row) => [row.oid, row]));
  const rootName = (oid: number) => relation.get(oid)?.root;
  const byName = new Map(relations.map((row) => [row.name, row]));

  const tables = new Map<string, TaggedTable>();
  for (const row of relations) {
    if (row.tagged && row.oid === row.root_oid) tables.set(row.name, { name: row.name, oid: row.oid, idColumn: undefined, keyColumn: undefined });
  }
  for (const pk of primaryKeys) {
    const table = tables.get(rootName(pk.oid) ?? '');
    const rest = withoutEnvironment(pk.columns);
    if (table && rest && pk.oid === table.oid) table.idColumn ??= rest;
  }
  for (const table of tables.values()) {
    if (registry) {
      // Where the registry exists it decides, for every table. A key of several columns, or one
      // that includes the environment ((platform_id, execution_environment) of account_balance),
      // is not one value identifying a row, so it is not branded.
      const key = registry.get(table.name) ?? [];
      table.keyColumn = key.length === 1 && key[0] !== ENV_COLUMN ? key[0] : undefined;
      continue;
    }
    const keys = new Set(
      partialUniques
        .filter((index) => rootName(index.oid) === table.name && index.columns.length === 2 && index.columns.includes(ENV_COLUMN))
        .map((index) => withoutEnvironment(index.columns)!),
    );
    table.keyColumn = keys.size === 1 ? [...keys][0] : undefined;
  }

  const types = new Map(attributes.map((row) => [`${row.oid}:${row.attname}`, row.atttypid]));
  const typeOf = (oid: number, column: string) => types.get(`${oid}:${column}`);
  // (root table, column) → identity.
  const identities = new Map<string, Identity>();
  const at = (table: string, column: string) => `${table}\u0000${column}`;
  for (const table of tables.values()) {
    if (table.idColumn) identities.set(at(table.name, table.idColumn), { table: table.name, kind: 'id' });
    if (table.keyColumn) identities.set(at(table.name, table.keyColumn), { table: table.name, kind: 'key' });
  }
  for (const fk of foreignKeys) {
    const target = tables.get(rootName(fk.ref_oid) ?? '');
    const source = rootName(fk.oid);
    if (!target?.idColumn || !source) continue;
    const pairs = fk.columns.map((column, i) => [column, fk.ref_columns[i]] as const).filter(([, ref]) => ref !== ENV_COLUMN);
    const [pair] = pairs;
    if (pairs.length === 1 && pair![1] === target.idColumn && pair![0] !== ENV_COLUMN) {
      identities.set(at(source, pair![0]), { table: target.name, kind: 'id' });
      // The referenced row's business key, carried beside the reference (same name and type).
      const sourceTable = tables.get(source);
      const key = target.keyColumn;
      if (sourceTable && key && sourceTable.keyColumn !== key && !identities.has(at(source, key)) && typeOf(sourceTable.oid, key) !== undefined &&
          typeOf(sourceTable.oid, key) === typeOf(target.oid, key)) {
        identities.set(at(source, key), { table: target.name, kind: 'key' });
      }
    }
  }

  const attname = new Map(attributes.map((row) => [`${row.oid}:${row.attnum}`, row.attname]));
  const identifyTableAttribute = (relationOid: number, attnum: number): Identity | undefined => {
    const root = rootName(relationOid);
    const column = attname.get(`${relationOid}:${attnum}`);
    return root && column ? identities.get(at(root, column)) : undefined;
  };
  const views = await viewColumns(client, identifyTableAttribute);
  const identifyAttribute = (relationOid: number, attnum: number): Identity | undefined =>
    identifyTableAttribute(relationOid, attnum) ?? views.byAttribute.get(`${relationOid}:${attnum}`);
  return {
    tables: [...tables.values()].sort((a, b) => a.name.localeCompare(b.name)),
    identifyAttribute,
    identifyColumn(table, column) {
      const root = byName.get(table)?.root;
      return root ? identities.get(at(root, column)) : views.byName.get(at(table, column));
    },
  };
}

/**
 * Views are not tagged tables (no keys of their own), but a view column that is a plain
 * reference to an id column (training_data_trades.position_id is trades.position_id) is that id.
 * The server says which column it is: the origin it reports for the view's own query. Views
 * over views resolve in later passes.
 */
async function viewColumns(
  client: Queryable,
  identifyBase: (relationOid: number, attnum: number) => Identity | undefined,
): Promise<{ byAttribute: Map<string, Identity>; byName: Map<string, Identity> }> {
  const byAttribute = new Map<string, Identity>();
  const byName = new Map<string, Identity>();
  const { rows } = await client.query({
    text: `SELECT c.oid::int8 AS oid, c.relname AS name, rtrim(pg_get_viewdef(c.oid), '; ' || chr(10)) AS definition
             FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'v' ORDER BY c.relname`,
  });
  const described = [];
  for (const view of rows as { oid: string; name: string; definition: string }[]) {
    // LIMIT 0 runs nothing; the result's field descriptions carry each column's origin.
    const result = (await client.query({ text: `SELECT * FROM (${view.definition}) AS view_query LIMIT 0` })) as unknown as {
      fields: { name: string; tableID: number; columnID: number }[];
    };
    described.push({ oid: Number(view.oid), name: view.name, fields: result.fields });
  }
  for (let pass = 0, changed = true; changed && pass <= described.length; pass += 1) {
    changed = false;
    for (const view of described) {
      view.fields.forEach((field, index) => {
        const key = `${view.oid}:${index + 1}`;
        if (byAttribute.has(key) || !field.tableID) return;
        const identity = identifyBase(field.tableID, field.columnID) ?? byAttribute.get(`${field.tableID}:${field.columnID}`);
        if (!identity) return;
        byAttribute.set(key, identity);
        byName.set(`${view.name}\u0000${field.name}`, identity);
        changed = true;
      });
    }
  }
  return { byAttribute, byName };
}

function numeric(row: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  for (const field of fields) if (typeof row[field] === 'string') row[field] = Number(row[field]);
  return row;
}

/** The key's one column other than execution_environment, if it has exactly one. */
/** The one column of a key besides the environment and the backtest run, which the scope binds. */
function withoutEnvironment(columns: string[]): string | undefined {
  const rest = columns.filter((column) => column !== ENV_COLUMN && column !== RUN_COLUMN);
  return rest.length === 1 ? rest[0] : undefined;
}

/** References between tagged tables (migration 000010), as foreign key rows; none before it exists. */
async function readReferences(query: <R>(text: string) => Promise<R[]>, oids: Map<string, number>): Promise<ForeignKeyRow[]> {
  const [{ exists } = { exists: false }] = await query<{ exists: boolean }>(
    `SELECT to_regclass('public.${REFERENCES_TABLE}') IS NOT NULL AS exists`,
  );
  if (!exists) return [];
  const rows = await query<{ table_name: string; columns: string[]; referenced_table: string; referenced_columns: string[] }>(
    `SELECT table_name, columns::text[] AS columns, referenced_table, referenced_columns::text[] AS referenced_columns FROM public.${REFERENCES_TABLE}`,
  );
  return rows.flatMap((row) => {
    const [oid, refOid] = [oids.get(row.table_name), oids.get(row.referenced_table)];
    return oid === undefined || refOid === undefined ? [] : [{ oid, ref_oid: refOid, columns: row.columns, ref_columns: row.referenced_columns }];
  });
}
