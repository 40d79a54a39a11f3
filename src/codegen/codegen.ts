/**
 * sql/ → generated/: build a database from the migrations alone, infer every query's types
 * there, and write the modules. All or nothing: one invalid query and nothing is written.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type pg from 'pg';
import type { ServerTarget } from '../server/connection-string.js';
import { connect } from '../server/resolve.js';
import { PROJECT_ROOT } from '../project.js';
import { dropDatabase, freshDatabase } from '../migrations/fresh-database.js';
import { emitEnums, emitIndex, emitModule, emitPublicQueries, type DatabaseEnum } from './emit.js';
import { emitTables, taggedTableColumns } from './tables.js';
import { readEnvironmentModel, type EnvironmentModel } from '../environment/model.js';
import { RUN_COLUMN } from '../domain/environment.js';
import { parserReady } from '../parser/pg-ast.js';
import { classifyQueries } from './classify.js';
import { inferTypes } from './infer.js';
import { loadSqlFiles } from './load-queries.js';
import type { UniqueKeys } from './cardinality.js';
import { readOverrides } from './overrides.js';
import { NullabilityInference, type Relations, writtenToNotNull } from './nullability.js';
import type { ClassifiedQuery } from './classify.js';
import { CodegenError } from './problems.js';
import { taggedRelations } from '../environment/tagged-relations.js';
import { schemaDocs } from '../schema/schema-docs.js';
import { schemaSnapshot } from '../schema/snapshot.js';

export const GENERATED_DIR = join(PROJECT_ROOT, 'generated');
export const DOCS_DIR = join(PROJECT_ROOT, 'docs');
/** Files of generated/ that codegen owns (everything but the folder's README). */
export const isGeneratedFile = (name: string) => name.endsWith('.ts') || name === 'schema.sql';

export interface CodegenOptions {
  /** Where to write; `npm run check` writes to a scratch folder and compares. */
  outDir?: string;
  /** Where docs/schema.md goes. */
  docsDir?: string;
  /** Reuse the codegen database as it is (the dev loop, after a query-only change). */
  reuseDatabase?: boolean;
  /** Where the queries are; tests point it at fixtures. */
  sqlDir?: string;
  /** Database to build and infer against; by default a scratch one, dropped afterwards. */
  database?: string;
  /** The type overrides file; by default precog.config.json at the project root (optional). */
  configPath?: string;
}

export interface CodegenResult {
  files: number;
  queries: number;
  /** Files written because their content changed (or removed because their source is gone). */
  changed: string[];
}

export async function codegen(server: ServerTarget, options: CodegenOptions = {}): Promise<CodegenResult> {
  const outDir = options.outDir ?? GENERATED_DIR;
  // Per process by default: concurrent codegen runs (a check beside a dev loop) must not share it.
  const database = options.database ?? `precog_codegen_${process.pid}`;
  if (!options.reuseDatabase) await freshDatabase(server, database, { includeCurrent: true });
  try {
    return await generate(server, database, outDir, options.docsDir ?? DOCS_DIR, options.sqlDir, options.configPath);
  } finally {
    if (!options.database) await dropDatabase(server, database);
  }
}

async function generate(server: ServerTarget, database: string, outDir: string, docsDir: string, sqlDir?: string, configPath?: string): Promise<CodegenResult> {
  const loaded = loadSqlFiles(sqlDir);
  if (loaded.problems.length) throw new CodegenError(loaded.problems);
  const [inferred, { enums, model, tagged, keys, relations, overrides, attributes, tableColumns }] = await Promise.all([
    inferTypes(server, database, loaded.files),
    readCatalog(server, database, configPath),
    parserReady(),
  ]);
  // Scoped, shared or cross-environment, from what each query reads and writes in this schema.
  const classified = await classifyQueries(inferred.files, tagged, keys);
  const problems = [...overrides.problems, ...inferred.problems, ...classified.problems];
  const overrideContext = {
    overrides: overrides.overrides,
    attributes,
    specifier: (projectPath: string) => {
      const path = relative(outDir, join(PROJECT_ROOT, projectPath)).replace(/\.ts$/, '.js');
      return path.startsWith('.') ? path : `./${path}`;
    },
  };
  for (const file of classified.files) for (const query of file.queries) inferNullability(query, relations);
  const outputs = new Map<string, string>();
  outputs.set('enums.ts', emitEnums(enums));
  // The rows a backtest run's bulk load takes, per tagged table (src/codegen/tables.ts).
  outputs.set('tables.ts', emitTables(tableColumns, model));
  for (const file of classified.files) outputs.set(`${file.module}.ts`, emitModule(file, problems, model, overrideContext));
  outputs.set('index.ts', emitIndex(classified.files));
  outputs.set('queries.ts', emitPublicQueries(classified.files));
  // The schema as reviewers read it, from the same database the types come from.
  outputs.set('schema.sql', await schemaSnapshot(server, database));
  if (problems.length) throw new CodegenError(problems);

  const changed = [
    ...writeOutputs(outDir, outputs, isGeneratedFile),
    ...writeOutputs(docsDir, new Map([['schema.md', await schemaDocs(server, database)]]), (name) => name === 'schema.md').map(
      (name) => `../docs/${name}`,
    ),
  ];
  return { changed, files: outputs.size + 1, queries: classified.files.reduce((n, f) => n + f.queries.length, 0) };
}

/** Writes only what changed (watchers and editors see no churn) and removes stale files it owns. */
function writeOutputs(outDir: string, outputs: Map<string, string>, owned: (name: string) => boolean): string[] {
  mkdirSync(outDir, { recursive: true });
  const changed: string[] = [];
  for (const [name, content] of outputs) {
    const path = join(outDir, name);
    if (existsSync(path) && readFileSync(path, 'utf8') === content) continue;
    writeFileSync(path, content);
    changed.push(name);
  }
  for (const name of readdirSync(outDir)) {
    if (owned(name) && !outputs.has(name)) {
      rmSync(join(outDir, name));
      changed.push(name);
    }
  }
  return changed;
}

/** What the emitter needs from the catalog besides the queries' types: enums, and which columns are ids. */
async function readCatalog(server: ServerTarget, database: string, configPath?: string) {
  const client = await connect(server, database);
  try {
    const model = await readEnvironmentModel(client);
    return {
      overrides: await readOverrides(PROJECT_ROOT, client, configPath),
      attributes: await attributeNames(client),
      enums: await databaseEnums(client),
      model,
      tableColumns: await taggedTableColumns(client, model),
      tagged: await taggedRelations(client),
      keys: await uniqueKeys(client),
      relations: await relationColumns(client),
    };
  } finally {
    await client.end();
  }
}

async function databaseEnums(client: pg.Client): Promise<DatabaseEnum[]> {
  const { rows } = await client.query<DatabaseEnum>(
    `SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS values
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
      WHERE t.typnamespace = 'public'::regnamespace
      GROUP BY t.typname ORDER BY t.typname`,
  );
  return rows;
}

/** Primary keys and unique indexes of public tables (a partial one only when its predicate is one boolean column). */
async function uniqueKeys(client: pg.Client): Promise<UniqueKeys> {
  const { rows } = await client.query<{ table: string; columns: string[]; predicate: string | null }>(
    `SELECT c.relname AS table,
            array(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n) AS columns,
            pg_get_expr(i.indpred, i.indrelid) AS predicate
       FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
      WHERE i.indisunique AND c.relnamespace = 'public'::regnamespace AND i.indexprs IS NULL AND NOT (0 = ANY(i.indkey))
      ORDER BY c.relname, i.indexrelid`,
  );
  const keys: UniqueKeys = new Map();
  for (const { table, columns, predicate } of rows) {
    if (predicate !== null && !/^[a-z_][a-z0-9_]*$/.test(predicate)) continue;
    const list = keys.get(table) ?? [];
    // A tagged table's unique keys include backtest_run_id (migration 000013), which a scope
    // binds as it binds the environment: a backtest scope reads one run ([backtest-run]).
    list.push({ columns: columns.filter((column) => column !== RUN_COLUMN), ...(predicate !== null && { predicate }) });
    keys.set(table, list);
  }
  return keys;
}

/** Columns (and NOT NULL) of every public table and view, and each view's definition to trace. */
async function relationColumns(client: pg.Client): Promise<Relations> {
  const { rows } = await client.query<{ relname: string; columns: string[]; notnull: boolean[]; definition: string | null }>(
    `SELECT c.relname,
            array_agg(a.attname::text ORDER BY a.attnum) AS columns,
            array_agg(a.attnotnull ORDER BY a.attnum) AS notnull,
            CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS definition
       FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
      GROUP BY c.oid, c.relname, c.relkind ORDER BY c.relname`,
  );
  return new Map(rows.map((row) => [row.relname, {
    columns: new Map(row.columns.map((column, index) => [column, row.notnull[index]!])),
    ...(row.definition !== null && { definition: row.definition }),
  }]));
}

/** Result nullability from the statement and the catalog (src/codegen/nullability.ts). */
function inferNullability(query: ClassifiedQuery, relations: Relations): void {
  if (!query.stmt) return;
  const required = new Set(query.ir.params.filter((param) => param.required).map((param) => param.name));
  const requiredNumbers = new Set([...query.stmtParams].filter(([, name]) => required.has(name)).map(([n]) => n));
  const written = writtenToNotNull(query.stmt, relations);
  query.requiredParams = new Set([...written].map((n) => query.stmtParams.get(n)!).filter((name) => name && !required.has(name)));
  for (const n of written) requiredNumbers.add(n);
  const inference = new NullabilityInference(relations, requiredNumbers);
  const results = inference.results(query.stmt);
  if (results?.length === query.types.returnTypes.length) query.resultNonNull = results;
  const elements = inference.elements(query.stmt);
  if (elements?.length === query.types.returnTypes.length) query.resultElementsNonNull = elements;
}

/** `relationOid:attnum` → `table.column`, for column overrides by a result's origin. */
async function attributeNames(client: pg.Client): Promise<Map<string, string>> {
  const { rows } = await client.query<{ key: string; name: string }>(
    `SELECT a.attrelid::int8 || ':' || a.attnum AS key, c.relname || '.' || a.attname AS name
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped`,
  );
  return new Map(rows.map((row) => [row.key, row.name]));
}
