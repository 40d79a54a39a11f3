/**
 * Consumers checked against the head schema: every query in sql/ is compiled (PREPARE) against
 * base and head, and each one that compiled on the base and breaks on the head is named; the
 * indexes each query's plan uses on the base (EXPLAIN (GENERIC_PLAN), PostgreSQL 16+, with sequential scans
 * discouraged, so that the plan shows the index a query relies on even on empty tables) that
 * the head no longer has; an INSERT that does not supply a NOT NULL column without default;
 * enum values added or removed (a new environment breaks exhaustive switches of importers).
 * Conventions: money-like columns are NUMERIC, never floating point.
 */
import type pg from 'pg';
import { type Node, parseStatements, sliceBytes } from '../parser/pg-ast.js';
import type { SourceFile } from '../lint/migration-rules.js';
import { queryBlocks } from '../lint/sql-queries.js';
import { hasGenericPlan as majorHasGenericPlan } from '../server/majors.js';
import { ANNOTATION } from '../lint/migration-rules.js';
import { readRegistry } from './catalog-audit.js';
import { readReach } from './reach.js';
import { predicateUse, readIndexes, readRelations, serves } from './index-use.js';
import { type Finding, finding } from '../lint/finding.js';

type Client = Pick<pg.ClientBase, 'query'>;

async function attempt<T>(client: Client, body: () => Promise<T>): Promise<T | Error> {
  await client.query('SAVEPOINT precog_consumer');
  try {
    const result = await body();
    await client.query('RELEASE SAVEPOINT precog_consumer');
    return result;
  } catch (error) {
    await client.query('ROLLBACK TO SAVEPOINT precog_consumer');
    await client.query('RELEASE SAVEPOINT precog_consumer');
    return error as Error;
  }
}

interface Compiled { indexes: string[] }

async function compile(client: Client, sql: string): Promise<Compiled | Error> {
  if (!(await hasGenericPlan(client))) return compileOnly(client, sql);
  return attempt(client, async () => {
    await client.query('SET LOCAL enable_seqscan = off');
    const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (GENERIC_PLAN, FORMAT JSON) ${sql}`);
    const indexes = new Set<string>();
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [key, value] of Object.entries(node)) {
          if (key === 'Index Name' && typeof value === 'string') indexes.add(value);
          else walk(value);
        }
      }
    };
    walk(rows[0]!['QUERY PLAN']);
    // A partition's index is its table's: name the index a migration would drop.
    const { rows: roots } = await client.query<{ name: string }>(`
        SELECT DISTINCT coalesce((SELECT p.relname FROM pg_class p WHERE p.oid = (
                 WITH RECURSIVE up(oid) AS (SELECT c.oid UNION SELECT i.inhparent FROM up JOIN pg_inherits i ON i.inhrelid = up.oid)
                 SELECT up.oid FROM up WHERE NOT EXISTS (SELECT FROM pg_inherits i WHERE i.inhrelid = up.oid) LIMIT 1)), c.relname)::text AS name
          FROM pg_class c WHERE c.relname = ANY ($1) AND c.relnamespace = 'public'::regnamespace ORDER BY 1`, [[...indexes]]);
    return { indexes: roots.map((r) => r.name) };
  });
}

const genericPlans = new WeakMap<Client, Promise<boolean>>();

/** Before EXPLAIN (GENERIC_PLAN) (src/server/majors.ts), queries are compiled but their plans not read. Asked once per client. */
function hasGenericPlan(client: Client): Promise<boolean> {
  let known = genericPlans.get(client);
  if (!known) {
    known = client.query<{ server_version_num: string }>('SHOW server_version_num').then(({ rows }) => majorHasGenericPlan(Math.floor(Number(rows[0]!.server_version_num) / 10000)));
    genericPlans.set(client, known);
  }
  return known;
}

/** PREPARE alone: whether the query compiles (its parameters' types inferred), no plan. */
async function compileOnly(client: Client, sql: string): Promise<Compiled | Error> {
  const compiled = await attempt(client, async () => {
    await client.query(`PREPARE precog_consumer_query AS ${sql}`);
    return { indexes: [] };
  });
  // A prepared statement outlives the savepoint's rollback: it goes either way.
  await client.query('DEALLOCATE ALL');
  return compiled;
}

export async function consumerPoints(base: Client, head: Client, baseSql: SourceFile[], headSql: SourceFile[]): Promise<Finding[]> {
  const points: Finding[] = [];
  const baseQueries = new Map<string, string>();
  for (const file of baseSql) for (const block of queryBlocks(file.text)) baseQueries.set(block.name, stripComments(block.sql));
  const reach = await readReach(head, (await readRegistry(head)).map((d) => d.table_name));
  const headIndexes = await readIndexes(head);
  const dropped = (await readIndexes(base)).filter((index) => !headIndexes.some((h) => h.name === index.name));
  const relations = await readRelations(head);
  for (const file of headSql) {
    for (const block of queryBlocks(file.text)) {
      const object = `${file.path}:${block.name}`;
      const sql = stripComments(block.sql);
      points.push(...throughFunctions(reach, object, block));
      const before = baseQueries.has(block.name) ? await compile(base, baseQueries.get(block.name)!) : undefined;
      const after = await compile(head, sql);
      if (after instanceof Error) {
        if (before instanceof Error && before.message === after.message) continue;
        // An enum value added by the change cannot be used before it commits; once committed, it can.
        if (/unsafe use of new value/.test(after.message)) continue;
        points.push(finding('consumer/query-breaks', object,
          `query ${block.name} no longer compiles against the head schema: ${after.message}${before && !(before instanceof Error) ? ' (it compiles on the base)' : ''}; its generated function fails at run time and codegen fails`,
          `change the query with the schema (or keep the old name: a view or column can be renamed back), then \`npm run codegen\``));
        continue;
      }
      // Indexes the query relies on, by its predicates against their columns (index-use.ts); the
      // base's plan adds what that cannot read (expression indexes).
      const use = predicateUse(sql, relations.columnsOf, relations.tablesOf);
      const judged = new Set<string>();
      for (const index of dropped) {
        const table = use.get(index.table);
        const was = serves(index, table);
        if (index.keys.every(Boolean)) judged.add(index.name);
        if (!was.score) continue;
        const [best] = headIndexes.filter((j) => j.table === index.table).map((j) => ({ j, by: serves(j, table) })).sort((a, b) => b.by.score - a.by.score);
        if (best && best.by.score >= was.score) continue;
        judged.add(index.name);
        points.push(finding('consumer/index-dropped', object,
          `query ${block.name} reads ${index.table} by ${was.columns.join(', ')}, the columns index ${index.name} leads with, and the head drops it: ${best?.by.score ? `the best index left, ${best.j.name}, serves it by ${best.by.columns.join(', ')} only` : `no index left on ${index.table} serves it`}, so on a production-sized ${index.table} the query reads ${best?.by.score ? 'many more rows' : 'every row of its partition'} (judged by the query's predicates, not an empty database's plan)`,
          `keep ${index.name}, or create its replacement (CREATE INDEX CONCURRENTLY, same leading columns) before dropping it`));
      }
      if (before && !(before instanceof Error)) {
        for (const index of before.indexes.filter((name) => !judged.has(name))) {
          const kept = (await head.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`public.${index}`])).rows[0].ok;
          if (!kept) {
            points.push(finding('consumer/index-dropped', object,
              `query ${block.name} is planned on index ${index} on the base (an expression index: its use is read from the plan), and the head drops it: the query falls back to ${after.indexes.length ? `${after.indexes.join(', ')}` : 'a sequential scan'}`,
              `keep ${index}, or replace it (CREATE INDEX CONCURRENTLY) with one the query can use before dropping it`));
          }
        }
      }
      points.push(...(await insertPoints(head, object, block.name, sql)));
    }
  }
  points.push(...(await enumPoints(base, head)));
  points.push(...(await moneyPoints(base, head)));
  return points;
}

/**
 * A query that reads tagged rows only through a function (`SELECT * FROM market_exposure(:m)`):
 * the environment lint and codegen see no tagged table in its text, so nothing pins it to the
 * scope's environment. It is tied to the tables the function reads, and must pass the scope's
 * :execution_environment (for the function to filter by) or say why not.
 */
function throughFunctions(reach: Awaited<ReturnType<typeof readReach>>, object: string, block: { name: string; sql: string; original: string; params: Map<number, string> }): Finding[] {
  const reached = [...reach.ofCalls(block.sql)];
  if (!reached.length) return [];
  if ([...block.params.values()].includes('execution_environment')) return [];
  if (ANNOTATION.exec(block.original)?.[1]?.trim()) return [];
  const through = reached.map(([table, path]) => `${table} (through ${path.slice(0, -1).join(' → ')})`);
  return [finding('consumer/function-reads-tagged', object,
    `query ${block.name} reads ${through.join(', ')} without naming a tagged table: it is not pinned to the scope's environment, so it returns rows of every environment it can see (all of them for the owner and precog_analyst), and codegen classes it as if it read shared tables only`,
    `pass the scope's environment to the function and filter by it inside (\`${reached[0]![1][0]}(..., :execution_environment!)\`), read a single-environment view instead, or say why it spans environments with \`-- cross-environment: <reason>\``)];
}

/** The block's first statement, without the `;` and whatever follows it. */
function stripComments(sql: string): string {
  try {
    const [first] = parseStatements(sql);
    if (first) return sliceBytes(sql, first.start, first.end).replace(/;\s*$/, '');
  } catch {
    // PREPARE reports the syntax error in words
  }
  return sql.replace(/;\s*$/, '');
}

/** An INSERT that leaves a NOT NULL column without default unsupplied. */
async function insertPoints(head: Client, object: string, name: string, sql: string): Promise<Finding[]> {
  let statements;
  try {
    statements = parseStatements(sql);
  } catch {
    return [];
  }
  // Every INSERT of the statement: the top-level one and those inside WITH ... AS (INSERT ...).
  const inserts: Node[] = [];
  const find = (node: Node): void => {
    if (Array.isArray(node)) return node.forEach(find);
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'InsertStmt') inserts.push(value);
      find(value);
    }
  };
  find(statements[0]?.stmt);
  const points: Finding[] = [];
  for (const body of inserts.filter((insert) => insert.cols && insert.relation)) {
    const supplied = new Set<string>(body.cols.map((c: { ResTarget: { name: string } }) => c.ResTarget.name));
    const { rows } = await head.query<{ name: string }>(`
        SELECT a.attname AS name FROM pg_attribute a
         WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
           AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '' ORDER BY a.attnum`, [`public.${body.relation.relname}`]);
    points.push(...rows.filter((r) => !supplied.has(r.name)).map((r) => finding('consumer/insert-missing-column', object,
      `query ${name} inserts into ${body.relation.relname} without ${r.name}, which the head makes NOT NULL without a default: every call fails with a not-null violation`,
      `give ${body.relation.relname}.${r.name} a DEFAULT (or keep it nullable), or add it to ${name} in the same pull request`)));
  }
  return points;
}

async function enumPoints(base: Client, head: Client): Promise<Finding[]> {
  const read = async (client: Client) => new Map((await client.query<{ name: string; values: string[] }>(`
      SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS values FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
       WHERE t.typnamespace = 'public'::regnamespace GROUP BY 1`)).rows.map((r) => [r.name, r.values]));
  const [before, after] = [await read(base), await read(head)];
  const points: Finding[] = [];
  for (const [name, values] of after) {
    const old = before.get(name);
    if (!old) continue;
    const added = values.filter((v) => !old.includes(v));
    const removed = old.filter((v) => !values.includes(v));
    if (!added.length && !removed.length) continue;
    const environment = name === 'execution_environment';
    points.push(finding('consumer/enum-changed', `enum ${name}`,
      `${added.length ? `value ${added.map((v) => `'${v}'`).join(', ')} added` : ''}${added.length && removed.length ? ', ' : ''}${removed.length ? `value ${removed.map((v) => `'${v}'`).join(', ')} removed` : ''}: generated/enums.ts changes, and importers' exhaustive switches over it no longer compile${environment ? '; a new environment has no partition, role or [environment-role] policy until every tagged table is declared again' : ''}`,
      environment ? 'a new environment is an ADR of its own: its role, a partition and policy per tagged table (declare each again), scopes and brands in src/environment' : 'regenerate (`npm run codegen`) and update every switch over the type in the same pull request',
      environment));
  }
  return points;
}

const MONEY = /(price|fee|pnl|p_and_l|balance|amount|cost|payout|proceeds|notional|equity|cash|value)/;
/** A float column that is not money says so in its comment: `COMMENT ON COLUMN t.c IS 'not money: <what it is>'`. */
const NOT_MONEY = /^not money:\s*\S/i;

/**
 * Money is not recognised by name alone: on a tagged table (its rows are trades, positions, P&L,
 * balances of an environment) or a table that already holds NUMERIC amounts, every new
 * floating-point column is taken for money unless its comment says `not money: <why>`; elsewhere
 * a money-like name decides.
 */
async function moneyPoints(base: Client, head: Client): Promise<Finding[]> {
  const sql = `
      SELECT c.relname || '.' || a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, col_description(c.oid, a.attnum) AS comment,
             EXISTS (SELECT FROM pg_attribute e WHERE e.attrelid = c.oid AND e.attname = 'execution_environment' AND NOT e.attisdropped) AS tagged,
             EXISTS (SELECT FROM pg_attribute n WHERE n.attrelid = c.oid AND n.atttypid = 'numeric'::regtype AND n.attnum > 0 AND NOT n.attisdropped) AS holds_numeric
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
       WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
         AND a.atttypid IN ('real'::regtype, 'double precision'::regtype)`;
  const existing = new Set((await base.query<{ name: string }>(sql)).rows.map((r) => r.name));
  return (await head.query<{ name: string; type: string; comment: string | null; tagged: boolean; holds_numeric: boolean }>(sql)).rows
    .filter((r) => !existing.has(r.name) && !NOT_MONEY.test(r.comment ?? ''))
    .filter((r) => r.tagged || r.holds_numeric || MONEY.test(r.name.split('.')[1]!))
    .map((r) => finding('convention/money-float', r.name,
      `${r.name} is ${r.type}${r.tagged ? ` on an environment-tagged table, where a number is money unless it says otherwise` : r.holds_numeric && !MONEY.test(r.name.split('.')[1]!) ? ' beside the NUMERIC amounts of its table' : ''}: money in binary floating point cannot hold 0.1 exactly, and sums of prices, fees and P&L drift by cents`,
      `declare it numeric(14,4) (amounts) or numeric(10,4) (prices per contract), which codegen types as Decimal; a number that is not money says so: \`COMMENT ON COLUMN ${r.name} IS 'not money: <what it is>'\``));
}
