/**
 * The environment-tagged tables as the database declares them: precog_environment_tables and
 * precog_environment_references (migration 000010) plus the catalog (columns, keys, partitions).
 * The rule tests are generated from this, so a table declared with precog_environment_table()
 * is tested with no change to the tests.
 */
import { randomBytes, randomInt } from 'node:crypto';
import pg from 'pg';
import { ENVIRONMENTS, type Environment } from './environment-fixtures.js';

export type Kind = 'append_only' | 'versioned' | 'mutable';

export interface Column {
  name: string;
  /** format_type(): usable in a cast. */
  type: string;
  /** pg_type.typcategory: N numeric, S string, D date/time, B boolean, E enum, U user (jsonb), ... */
  category: string;
  notNull: boolean;
  /** GENERATED ... AS IDENTITY or a generated column: never written by an insert. */
  generated: boolean;
  defaultExpression: string | null;
}

export interface TaggedTable {
  name: string;
  kind: Kind;
  businessKey: string[];
  mutableColumns: string[];
  currentColumn: string | null;
  endColumn: string | null;
  columns: Column[];
  /**
   * The primary key's columns; since migration 000013 a unique constraint of the same name
   * (`<t>_pkey`, UNIQUE NULLS NOT DISTINCT) that includes backtest_run_id.
   */
  primaryKey: string[];
  /** Columns of unique indexes without a predicate, other than the environment, the run and generated columns. */
  uniqueColumns: string[];
  /** The partition of each environment, and of a NULL environment. */
  partitions: Record<Environment | 'missing', string>;
  /** The partitions of the backtest partition (migration 000013): one per run, by run id, and the DEFAULT one. */
  runPartitions: { runs: Record<string, string>; missing: string };
}

/** The run of a backtest row (migration 000013); NULL for live and paper rows. */
export const RUN_COLUMN = 'backtest_run_id';

export interface Reference {
  table: string;
  columns: string[];
  referencedTable: string;
  referencedColumns: string[];
}

export interface Registry {
  tables: TaggedTable[];
  /** References between tagged tables (same_environment): never across environments. */
  references: Reference[];
  /** References from a tagged table to a shared one (markets, strategies, platforms, ...). */
  sharedReferences: Reference[];
}

export const ident = (name: string) => pg.escapeIdentifier(name);

/** Reads the registry and the catalog of every tagged table. */
export async function loadRegistry(client: pg.ClientBase): Promise<Registry> {
  const { rows: declared } = await client.query<{
    table_name: string;
    kind: Kind;
    business_key: string[];
    mutable_columns: string[];
    current_column: string | null;
    end_column: string | null;
  }>('SELECT * FROM precog_environment_tables ORDER BY table_name');
  const tables: TaggedTable[] = [];
  for (const row of declared) {
    const { rows: columns } = await client.query<Column>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, t.typcategory AS category, a.attnotnull AS "notNull",
              (a.attidentity <> '' OR a.attgenerated <> '') AS generated, pg_get_expr(d.adbin, d.adrelid) AS "defaultExpression"
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [`public.${ident(row.table_name)}`],
    );
    const { rows: [keys] } = await client.query<{ primary_key: string[] | null; unique_columns: string[] | null }>(
      `SELECT (SELECT array_agg(a.attname::text ORDER BY k.i) FROM pg_index i CROSS JOIN unnest(i.indkey) WITH ORDINALITY k(n, i)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
                WHERE i.indrelid = $1::regclass
                  AND (i.indisprimary OR EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                                                    AND c.contype = 'u' AND c.conname = $2 || '_pkey'))) AS primary_key,
              (SELECT array_agg(DISTINCT a.attname::text) FROM pg_index i CROSS JOIN unnest(i.indkey) k(n)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
                WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indpred IS NULL
                  AND a.attname NOT IN ('execution_environment', 'backtest_run_id') AND a.attidentity = '' AND a.attgenerated = '') AS unique_columns`,
      [`public.${ident(row.table_name)}`, row.table_name],
    );
    const { rows: runPartitions } = await client.query<{ run: string | null; partition: string }>(
      `SELECT substring(pg_get_expr(c.relpartbound, c.oid) FROM '^FOR VALUES IN \(''?([0-9]+)''?\)$') AS run, c.relname::text AS partition
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = precog_environment_partition($1::regclass, 'backtest') ORDER BY c.relname`,
      [`public.${ident(row.table_name)}`],
    );
    const { rows: partitions } = await client.query<{ environment: Environment | null; partition: string }>(
      `SELECT e AS environment, precog_environment_partition($1::regclass, e)::text AS partition
         FROM unnest(enum_range(NULL::execution_environment)::text[] || ARRAY[NULL]) e`,
      [`public.${ident(row.table_name)}`],
    );
    tables.push({
      name: row.table_name,
      kind: row.kind,
      businessKey: row.business_key,
      mutableColumns: row.mutable_columns,
      currentColumn: row.current_column,
      endColumn: row.end_column,
      columns,
      primaryKey: keys?.primary_key ?? [],
      uniqueColumns: keys?.unique_columns ?? [],
      partitions: Object.fromEntries(partitions.map((p) => [p.environment ?? 'missing', p.partition])) as TaggedTable['partitions'],
      runPartitions: {
        runs: Object.fromEntries(runPartitions.filter((p) => p.run !== null).map((p) => [p.run, p.partition])),
        missing: runPartitions.find((p) => p.run === null)?.partition ?? '',
      },
    });
  }
  const { rows: references } = await client.query<Reference & { same: boolean }>(
    `SELECT table_name AS table, columns, referenced_table AS "referencedTable", referenced_columns AS "referencedColumns",
            coalesce((to_jsonb(r) ->> 'same_environment')::boolean, true) AS same
       FROM precog_environment_references r ORDER BY table_name, columns`,
  );
  const strip = ({ same: _same, ...reference }: Reference & { same: boolean }): Reference => reference;
  return {
    tables,
    references: references.filter((r) => r.same).map(strip),
    sharedReferences: references.filter((r) => !r.same).map(strip),
  };
}

export type Row = Record<string, unknown>;

/** Rows of one table and environment, as to_jsonb() returned them. */
export interface EnvironmentRows {
  /** A row no other tagged table references (for versioned tables, a superseded version). */
  free: Row;
  /** versioned: a superseded version and a current one. */
  superseded?: Row;
  current?: Row;
  /** How many rows the environment holds. */
  count: number;
  /** For each reference of the table (key: its columns joined by ','), a row using it. */
  using: Record<string, Row>;
  /**
   * backtest: the rows above are of one run (`run`, the one precog_backtest's attempts run in);
   * `otherRun` holds a row of the table too (`otherRunRow`, a current version for versioned tables).
   */
  runs?: { run: string; otherRun: string };
  /** backtest: how many rows `run` holds (all precog_backtest sees in it). */
  runCount?: number;
  otherRunRow?: Row;
}

export type Fixtures = Record<string, Record<Environment, EnvironmentRows>>;

/**
 * Picks, from the rows already in the database, the rows every rule case starts from: for each
 * tagged table and environment a row nothing references, and for versioned tables a superseded
 * and a current version. A table without them is reported by name: seed it first.
 */
export async function loadFixtures(client: pg.ClientBase, registry: Registry): Promise<Fixtures> {
  const fixtures: Fixtures = {};
  // seedTaggedTables() labels them (environment-seeds.ts).
  const { rows: runRows } = await client.query<{ label: string; id: string }>(
    `SELECT label, id::text AS id FROM backtest_runs WHERE label IN ('rule cases: the fixtures'' run', 'rule cases: another run')`,
  );
  const run = runRows.find((r) => r.label === "rule cases: the fixtures' run")?.id;
  const otherRun = runRows.find((r) => r.label === 'rule cases: another run')?.id;
  if (!run || !otherRun) throw new Error('fixtures: the two backtest runs of the rule cases are missing: seed with seedTaggedTables() first');
  for (const table of registry.tables) {
    const unreferenced = registry.references
      .filter((r) => r.referencedTable === table.name)
      .map((r) => {
        const pairs = r.columns.map((c, i) => `x.${ident(c)} = t.${ident(r.referencedColumns[i]!)}`).join(' AND ');
        return `NOT EXISTS (SELECT FROM ${ident(r.table)} x WHERE ${pairs} AND x.execution_environment = t.execution_environment)`;
      });
    // A backtest row is one of the fixtures' run (unless `inRun` says another).
    const pick = async (environment: Environment, extra: string[], inRun = run) => {
      const where = ['t.execution_environment = $1::execution_environment', 't.backtest_run_id IS NOT DISTINCT FROM $2::bigint', ...extra].join(' AND ');
      const { rows } = await client.query<{ row: Row }>(
        `SELECT to_jsonb(t) AS row FROM ${ident(table.name)} t WHERE ${where} ORDER BY ${table.primaryKey.map((c) => `t.${ident(c)}`).join(', ') || '1'} LIMIT 1`,
        [environment, environment === 'backtest' ? inRun : null],
      );
      return rows[0]?.row;
    };
    fixtures[table.name] = {} as Record<Environment, EnvironmentRows>;
    for (const environment of ENVIRONMENTS) {
      const current = table.kind === 'versioned' ? `t.${ident(table.currentColumn!)}` : undefined;
      const superseded = current ? await pick(environment, [`NOT ${current}`, ...unreferenced]) : undefined;
      const free = superseded ?? (await pick(environment, unreferenced));
      const { rows: [counted] } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${ident(table.name)} WHERE execution_environment = $1`,
        [environment],
      );
      if (!free) throw new Error(`fixtures: ${table.name} has no ${environment} row that no tagged table references${current ? ' (a superseded version)' : ''}: seed one first`);
      const rows: EnvironmentRows = { free, count: counted?.n ?? 0, using: {} };
      for (const reference of registry.references.filter((r) => r.table === table.name)) {
        const using = await pick(environment, [...reference.columns.map((c) => `t.${ident(c)} IS NOT NULL`), ...(current ? [`NOT ${current}`] : [])]);
        if (!using) throw new Error(`fixtures: ${table.name} has no ${environment} row using ${reference.columns.join(', ')}: seed one first`);
        rows.using[reference.columns.join(',')] = using;
      }
      if (current) {
        rows.superseded = superseded!;
        rows.current = await pick(environment, [current]);
        if (!rows.current) throw new Error(`fixtures: ${table.name} has no current ${environment} version: seed one first`);
      }
      if (environment === 'backtest') {
        rows.runs = { run, otherRun };
        const { rows: [inRun] } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ident(table.name)} WHERE backtest_run_id = $1`, [run]);
        rows.runCount = inRun?.n ?? 0;
        rows.otherRunRow = await pick(environment, current ? [current] : [], otherRun);
        if (!rows.otherRunRow) throw new Error(`fixtures: ${table.name} has no row in the other backtest run: seed one first`);
      }
      fixtures[table.name]![environment] = rows;
    }
  }
  return fixtures;
}

/** The columns an INSERT names (every column but identity and generated ones). */
export function insertableColumns(table: TaggedTable): string[] {
  return table.columns.filter((c) => !c.generated).map((c) => c.name);
}

/**
 * An INSERT of `row` (a to_jsonb() row of the table, changed as the case needs) naming `columns`:
 * `INSERT INTO t (a, b) SELECT a, b FROM jsonb_populate_record(NULL::t, $1)`, so every value keeps
 * its column's type with no per-type code, whoever runs it.
 */
export function insertRow(table: TaggedTable, row: Row, columns = insertableColumns(table)): { text: string; params: unknown[] } {
  const list = columns.map(ident).join(', ');
  return {
    text: `INSERT INTO ${ident(table.name)} (${list}) SELECT ${list} FROM jsonb_populate_record(NULL::${ident(table.name)}, $1::jsonb)`,
    params: [JSON.stringify(row)],
  };
}

/** `row` copied as a new row: unique columns get fresh values (generated ones are not inserted). */
export function copyOf(table: TaggedTable, row: Row, changes: Row = {}): Row {
  const copy: Row = { ...row };
  for (const name of table.uniqueColumns) copy[name] = fresh(copy[name]);
  return { ...copy, ...changes };
}

/**
 * A value of the same shape that no row holds yet: a string gets random digits appended (so a
 * business key such as 'POS-12' stays valid: 'POS-12483901'), a number a large random offset.
 */
export function fresh(value: unknown): unknown {
  if (typeof value === 'string') return `${value}${randomInt(1, 9)}${randomInt(100_000, 999_999)}`;
  if (typeof value === 'number') return value + randomInt(1_000_000, 1_000_000_000);
  if (value === null || value === undefined) return value;
  return `${String(value)}-${randomBytes(3).toString('hex')}`;
}

/**
 * The primary key as expressions that compare equal when the key does: a live or paper row's run
 * is NULL (the key is NULLS NOT DISTINCT), which `IN` would never match, so it reads as 0 (no run has id 0).
 */
export function keyExpressions(table: TaggedTable, qualifier = ''): string[] {
  return table.primaryKey.map((c) => (c === RUN_COLUMN ? `coalesce(${qualifier}${ident(c)}, 0)` : `${qualifier}${ident(c)}`));
}

/** `WHERE` locating exactly the given rows by primary key: `(id, execution_environment, coalesce(backtest_run_id, 0)) IN (...)`, parameter $n. */
export function rowsWhere(table: TaggedTable, n: number): string {
  const key = keyExpressions(table).join(', ');
  return `(${key}) IN (SELECT ${key} FROM jsonb_populate_recordset(NULL::${ident(table.name)}, $${n}::jsonb))`;
}

export function keyOf(table: TaggedTable, rows: Row[]): string {
  return JSON.stringify(rows.map((row) => Object.fromEntries(table.primaryKey.map((c) => [c, row[c]]))));
}

/**
 * An expression changing column `column` of a row, whatever its type (enough for a BEFORE UPDATE
 * guard to see a change; CHECK constraints run after the guards). undefined when the type is not one of these.
 */
export function changedValue(column: Column): string | undefined {
  const c = ident(column.name);
  switch (column.category) {
    case 'N':
      return `${c} + 1`;
    case 'S':
      return `${c} || '-changed'`;
    case 'B':
      return `NOT ${c}`;
    case 'E':
      return `(SELECT e FROM unnest(enum_range(${c})) e WHERE e <> ${c} LIMIT 1)`;
    case 'D':
      return column.type === 'date' ? `${c} + 1` : `${c} + interval '1 second'`;
    case 'U':
      return column.type === 'jsonb' ? `${c} || '{"changed": true}'::jsonb` : undefined;
    default:
      return undefined;
  }
}

/** A column an UPDATE of `row` can change in a way the guards see, other than those in `excluded`. */
export function changeableColumn(table: TaggedTable, row: Row, excluded: string[]): { column: Column; expression: string } | undefined {
  const candidates = table.columns
    .filter((c) => !c.generated && c.name !== 'execution_environment' && !excluded.includes(c.name) && row[c.name] !== null && row[c.name] !== undefined)
    .sort((a, b) => Number(b.notNull) - Number(a.notNull));
  for (const column of candidates) {
    const expression = changedValue(column);
    if (expression) return { column, expression };
  }
  return undefined;
}

/**
 * A fingerprint of the catalog around the tagged tables: triggers, policies, constraints, indexes,
 * grants, row-level security, defaults, partitions, comments and the registry rows. Equal fingerprints:
 * nothing changed.
 */
export async function catalogFingerprint(client: pg.ClientBase): Promise<Record<string, string[]>> {
  const list = async (sql: string) => (await client.query<{ item: string }>(sql)).rows.map((r) => r.item);
  const ours = `n.nspname = 'public'`;
  return {
    relations: await list(`SELECT c.relname || ' ' || c.relkind::text || ' rls=' || c.relrowsecurity || ' acl=' || coalesce(c.relacl::text, '')
                              || ' bound=' || coalesce(pg_get_expr(c.relpartbound, c.oid), '') AS item
                             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${ours} AND c.relkind IN ('r', 'p', 'v') ORDER BY 1`),
    columns: await list(`SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
                            || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' acl=' || coalesce(a.attacl::text, '') AS item
                           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                          WHERE ${ours} AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1`),
    triggers: await list(`SELECT pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text AS item FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${ours} AND NOT t.tgisinternal ORDER BY 1`),
    policies: await list(`SELECT p.tablename || ' ' || p.policyname || ' ' || p.permissive || ' ' || p.roles::text || ' ' || p.cmd
                            || ' ' || coalesce(p.qual, '') || ' ' || coalesce(p.with_check, '') AS item FROM pg_policies p WHERE p.schemaname = 'public' ORDER BY 1`),
    constraints: await list(`SELECT c.conrelid::regclass::text || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid) AS item FROM pg_constraint c
                               JOIN pg_namespace n ON n.oid = c.connamespace WHERE ${ours} AND c.conrelid <> 0 ORDER BY 1`),
    indexes: await list(`SELECT pg_get_indexdef(i.indexrelid) AS item FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${ours} ORDER BY 1`),
    functions: await list(`SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || md5(p.prosrc) || ' acl=' || coalesce(p.proacl::text, '') AS item
                             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${ours} ORDER BY 1`),
    // Every comment on an object of ours (tables, partitions, columns, constraints, indexes,
    // policies, triggers, functions): a declaration that rewrites one has changed something.
    comments: await list(`SELECT pg_describe_object(d.classoid, d.objoid, d.objsubid) || ': ' || d.description AS item
                            FROM pg_description d WHERE d.objoid >= 16384 ORDER BY 1`),
    registry: await list(`SELECT row(d.*)::text AS item FROM precog_environment_tables d ORDER BY 1`),
    references: await list(`SELECT row(r.*)::text AS item FROM precog_environment_references r ORDER BY 1`),
  };
}
