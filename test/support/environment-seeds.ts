/**
 * Rows of every environment in every tagged table of the registry, for the generated rule cases.
 *
 * Tables that already hold rows (seedEveryEnvironment's positions and trades, or a test's own
 * inserts) keep them; any other table of the registry gets rows built generically from the
 * catalog: defaults where there are some, NULL where allowed, a value of an existing row for a
 * foreign key, the same-named column of an existing tagged row for text (so 'MKT-...' formats
 * hold), 1 for numbers, the first value of an enum. Then, for every reference, a row that uses it,
 * and for every table a row nothing references. A table that cannot be built is reported by name.
 */
import type pg from 'pg';
import { ENVIRONMENTS, seedEveryEnvironment, type Environment } from './environment-fixtures.js';
import { backtestRun } from './backtest-run.js';
import { copyOf, fresh, ident, insertRow, keyExpressions, RUN_COLUMN, type Registry, type Row, type TaggedTable } from './environment-registry.js';

async function inSavepoint<T>(client: pg.ClientBase, body: () => Promise<T>): Promise<{ value?: T; error?: pg.DatabaseError }> {
  await client.query('SAVEPOINT seed');
  try {
    const value = await body();
    await client.query('RELEASE SAVEPOINT seed');
    return { value };
  } catch (error) {
    await client.query('ROLLBACK TO SAVEPOINT seed');
    return { error: error as pg.DatabaseError };
  }
}

const one = async (client: pg.ClientBase, sql: string, params: unknown[] = []) => (await client.query<{ row: Row }>(sql, params)).rows[0]?.row;

/** Tables ordered so that a referenced table comes before the tables referencing it. */
function inReferenceOrder(registry: Registry): TaggedTable[] {
  const done = new Set<string>();
  const ordered: TaggedTable[] = [];
  const visit = (table: TaggedTable, path: string[]) => {
    if (done.has(table.name) || path.includes(table.name)) return;
    for (const r of registry.references.filter((r) => r.table === table.name && r.referencedTable !== table.name)) {
      visit(registry.tables.find((t) => t.name === r.referencedTable)!, [...path, table.name]);
    }
    done.add(table.name);
    ordered.push(table);
  };
  for (const table of registry.tables) visit(table, []);
  return ordered;
}

/**
 * A row of `table` in `environment`, as an INSERT of its referenced tables' rows and the catalog
 * allow; a backtest row in backtest run `run`, referencing rows of that run.
 */
async function buildRow(
  client: pg.ClientBase,
  registry: Registry,
  table: TaggedTable,
  environment: Environment,
  run: string | null,
): Promise<{ row: Row; columns: string[] }> {
  const row: Row = { execution_environment: environment, [RUN_COLUMN]: environment === 'backtest' ? run : null };
  const columns = ['execution_environment', RUN_COLUMN];
  const { rows: foreignKeys } = await client.query<{ column: string; target: string; target_column: string }>(
    `SELECT a.attname AS column, c.confrelid::regclass::text AS target, b.attname AS target_column
       FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
       JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = c.confkey[1]
      WHERE c.conrelid = $1::regclass AND c.contype = 'f' AND cardinality(c.conkey) = 1`,
    [`public.${ident(table.name)}`],
  );
  for (const column of table.columns) {
    if (column.generated || column.name === 'execution_environment' || column.name === RUN_COLUMN) continue;
    const reference = registry.references.find((r) => r.table === table.name && r.columns.includes(column.name));
    if (reference) {
      if (!column.notNull) continue;
      const target = await one(
        client,
        `SELECT to_jsonb(t) AS row FROM ${ident(reference.referencedTable)} t
          WHERE execution_environment = $1 AND coalesce(backtest_run_id, 0) = coalesce($2::bigint, 0) ORDER BY 1 LIMIT 1`,
        [environment, row[RUN_COLUMN]],
      );
      if (!target) throw new Error(`seeds: ${table.name}.${column.name} needs a ${environment} row of ${reference.referencedTable}`);
      row[column.name] = target[reference.referencedColumns[reference.columns.indexOf(column.name)]!];
      columns.push(column.name);
      continue;
    }
    if (column.defaultExpression !== null || !column.notNull) continue;
    const shared = registry.sharedReferences.find((r) => r.table === table.name && r.columns.length === 1 && r.columns[0] === column.name);
    const foreignKey =
      foreignKeys.find((f) => f.column === column.name) ??
      (shared ? { column: column.name, target: ident(shared.referencedTable), target_column: shared.referencedColumns[0]! } : undefined);
    let value: unknown;
    if (foreignKey) {
      value = (await one(client, `SELECT to_jsonb(t.${ident(foreignKey.target_column)}) AS row FROM ${foreignKey.target} t LIMIT 1`)) ?? null;
    } else if (column.category === 'S') {
      // The same-named column of an existing row of another tagged table (keeps formats such as 'MKT-...').
      for (const other of registry.tables.filter((t) => t.name !== table.name && t.columns.some((c) => c.name === column.name))) {
        value = await one(client, `SELECT to_jsonb(t.${ident(column.name)}) AS row FROM ${ident(other.name)} t WHERE t.execution_environment = $1 AND t.${ident(column.name)} IS NOT NULL LIMIT 1`, [environment]);
        if (value !== undefined) break;
      }
      value ??= 'x';
    } else if (column.category === 'N') value = 1;
    else if (column.category === 'B') value = false;
    else if (column.category === 'D') value = new Date().toISOString();
    else if (column.category === 'E') value = (await one(client, `SELECT to_jsonb((enum_range(NULL::${column.type}))[1]) AS row`)) ?? null;
    else if (column.type === 'jsonb' || column.type === 'json') value = {};
    else throw new Error(`seeds: no generic value for ${table.name}.${column.name} (${column.type}): seed the table first`);
    row[column.name] = value;
    columns.push(column.name);
  }
  return { row, columns };
}

async function enumColumns(client: pg.ClientBase, table: TaggedTable): Promise<{ name: string; values: unknown[] }[]> {
  const result = [];
  for (const column of table.columns.filter((c) => c.category === 'E' && c.name !== 'execution_environment' && !c.generated)) {
    const { rows } = await client.query<{ v: unknown }>(`SELECT to_jsonb(unnest(enum_range(NULL::${column.type}))) AS v`);
    result.push({ name: column.name, values: rows.map((r) => r.v) });
  }
  return result;
}

/** Inserts `row`; on a CHECK violation, tries each value of each enum column in turn. */
async function insertFitting(client: pg.ClientBase, table: TaggedTable, row: Row, columns?: string[]): Promise<pg.DatabaseError | undefined> {
  const first = await inSavepoint(client, () => client.query(insertRow(table, row, columns).text, insertRow(table, row, columns).params));
  if (!first.error) return undefined;
  if (first.error.code !== '23514') return first.error;
  for (const column of await enumColumns(client, table)) {
    for (const value of column.values) {
      const candidate = { ...row, [column.name]: value };
      const cols = columns && !columns.includes(column.name) ? [...columns, column.name] : columns;
      const attempt = await inSavepoint(client, () => client.query(insertRow(table, candidate, cols).text, insertRow(table, candidate, cols).params));
      if (!attempt.error) return undefined;
    }
  }
  return first.error;
}

const count = async (client: pg.ClientBase, sql: string, params: unknown[]) => (await client.query<{ n: number }>(sql, params)).rows[0]!.n;

/** The labels of the two backtest runs of the rule cases (loadFixtures finds them by these). */
export const FIXTURE_RUN = 'rule cases: the fixtures\' run';
export const OTHER_RUN = 'rule cases: another run';

/** The id of the fixtures' run, in a transaction seedTaggedTables() seeded. */
export async function fixtureRun(client: pg.ClientBase): Promise<string> {
  const { rows: [run] } = await client.query<{ id: string }>(`SELECT id::text AS id FROM backtest_runs WHERE label = $1`, [FIXTURE_RUN]);
  if (!run) throw new Error(`seeds: no backtest run labelled ${FIXTURE_RUN}: seed with seedTaggedTables() first`);
  return run.id;
}

/**
 * Makes two backtest runs (FIXTURE_RUN, OTHER_RUN). Seeds positions and trades
 * (seedEveryEnvironment, backtest rows in the fixtures' run), then runs `own` (a test's rows for
 * its own tables; its backtest rows belong to the fixtures' run, whose id fixtureRun() reads), then gives every other table of the registry rows of each
 * environment, every reference a row using it, and every table a row nothing references. Last,
 * every table gets a row in the other run (referencing rows of that run only).
 */
export async function seedTaggedTables(
  client: pg.ClientBase,
  registry: Registry,
  own?: (client: pg.ClientBase) => Promise<unknown>,
): Promise<void> {
  // First: making a run locks every tagged table's backtest partition.
  const run = await backtestRun(client, { label: FIXTURE_RUN });
  const otherRun = await backtestRun(client, { label: OTHER_RUN });
  const names = registry.tables.map((t) => t.name);
  if (names.includes('positions') && names.includes('trades')) await seedEveryEnvironment(client, 'MKT-RULES', run);
  // A test's own rows for its own tables, before any generic row is built.
  if (own) await own(client);
  const tables = inReferenceOrder(registry);
  for (const table of tables) {
    const t = ident(table.name);
    for (const environment of ENVIRONMENTS) {
      if ((await count(client, `SELECT count(*)::int AS n FROM ${t} WHERE execution_environment = $1`, [environment])) === 0) {
        const { row, columns } = await buildRow(client, registry, table, environment, String(run.id));
        const error = await insertFitting(client, table, row, columns);
        if (error) throw new Error(`seeds: cannot build a ${environment} row of ${table.name} (${error.code} ${error.message}): seed it before the rule cases`);
      }
      if (table.kind === 'versioned') {
        // A superseded version and a current one: close the current version, insert the next.
        const current = ident(table.currentColumn!);
        const key = keyExpressions(table).join(', ');
        const superseded = await count(client, `SELECT count(*)::int AS n FROM ${t} WHERE execution_environment = $1 AND NOT ${current}`, [environment]);
        if (superseded === 0) {
          const { rows: [closed] } = await client.query<{ row: Row }>(
            `UPDATE ${t} SET ${current} = false, ${ident(table.endColumn!)} = clock_timestamp()
              WHERE (${key}) IN (SELECT ${key} FROM ${t} WHERE execution_environment = $1 AND ${current} LIMIT 1) RETURNING to_jsonb(${t}.*) AS row`,
            [environment],
          );
          const next = copyOf(table, closed!.row, { [table.currentColumn!]: true, [table.endColumn!]: null });
          const error = await insertFitting(client, table, next);
          if (error) throw new Error(`seeds: cannot version a ${environment} row of ${table.name} (${error.code} ${error.message})`);
        }
      }
    }
  }
  // Every reference used by a row of each environment.
  for (const reference of registry.references) {
    const table = registry.tables.find((t) => t.name === reference.table)!;
    const t = ident(table.name);
    const set = reference.columns.map((c) => `${ident(c)} IS NOT NULL`).join(' AND ');
    for (const environment of ENVIRONMENTS) {
      if ((await count(client, `SELECT count(*)::int AS n FROM ${t} WHERE execution_environment = $1 AND ${set}`, [environment])) > 0) continue;
      const target = await one(client, `SELECT to_jsonb(r) AS row FROM ${ident(reference.referencedTable)} r WHERE execution_environment = $1 ORDER BY 1 LIMIT 1`, [environment]);
      const base = await one(client, `SELECT to_jsonb(t) AS row FROM ${t} t WHERE execution_environment = $1 ${table.kind === 'versioned' ? `AND NOT ${ident(table.currentColumn!)}` : ''} ORDER BY 1 LIMIT 1`, [environment]);
      const changes = Object.fromEntries(reference.columns.map((c, i) => [c, target![reference.referencedColumns[i]!]]));
      const error = await insertFitting(client, table, copyOf(table, base!, changes));
      if (error) throw new Error(`seeds: cannot build a ${environment} row of ${table.name} using ${reference.columns.join(', ')} (${error.code} ${error.message})`);
    }
  }
  // Every table: a row nothing references (a copy of one, for versioned tables of a superseded version).
  for (const table of tables) {
    const inbound = registry.references.filter((r) => r.referencedTable === table.name);
    if (inbound.length === 0) continue;
    const t = ident(table.name);
    const free = inbound
      .map((r) => `NOT EXISTS (SELECT FROM ${ident(r.table)} x WHERE ${r.columns.map((c, i) => `x.${ident(c)} = t.${ident(r.referencedColumns[i]!)}`).join(' AND ')} AND x.execution_environment = t.execution_environment)`)
      .join(' AND ');
    const versioned = table.kind === 'versioned' ? `AND NOT t.${ident(table.currentColumn!)}` : '';
    for (const environment of ENVIRONMENTS) {
      if ((await count(client, `SELECT count(*)::int AS n FROM ${t} t WHERE execution_environment = $1 ${versioned} AND ${free}`, [environment])) > 0) continue;
      const base = await one(client, `SELECT to_jsonb(t) AS row FROM ${t} t WHERE execution_environment = $1 ${versioned} ORDER BY 1 LIMIT 1`, [environment]);
      if (!base) throw new Error(`seeds: ${table.name} has no ${environment} row to copy`);
      const error = await insertFitting(client, table, copyOf(table, base));
      if (error) throw new Error(`seeds: cannot copy a ${environment} row of ${table.name} (${error.code} ${error.message})`);
    }
  }
  // The other run: a copy of a row of the fixtures' run in every table (a current version, under a
  // new key, for versioned ones), its references pointing at the other run's copies.
  const copies: Record<string, Row> = {};
  for (const table of tables) {
    const t = ident(table.name);
    const current = table.kind === 'versioned' ? `AND t.${ident(table.currentColumn!)}` : '';
    const base = await one(client, `SELECT to_jsonb(t) AS row FROM ${t} t WHERE backtest_run_id = $1 ${current} ORDER BY 1 LIMIT 1`, [run.id]);
    if (!base) throw new Error(`seeds: ${table.name} has no row in the fixtures' backtest run to copy`);
    const changes: Row = { [RUN_COLUMN]: String(otherRun.id) };
    if (table.kind === 'versioned' && !table.businessKey.includes('execution_environment')) {
      for (const column of table.businessKey) changes[column] = fresh(base[column]);
    }
    for (const reference of registry.references.filter((r) => r.table === table.name)) {
      const target = copies[reference.referencedTable];
      reference.columns.forEach((column, i) => {
        if (base[column] !== null) changes[column] = target ? target[reference.referencedColumns[i]!] : null;
      });
    }
    const error = await insertFitting(client, table, copyOf(table, base, changes));
    if (error) throw new Error(`seeds: cannot copy a row of ${table.name} into another backtest run (${error.code} ${error.message})`);
    copies[table.name] = (await one(client, `SELECT to_jsonb(t) AS row FROM ${t} t WHERE backtest_run_id = $1 ORDER BY 1 LIMIT 1`, [otherRun.id]))!;
  }
}
