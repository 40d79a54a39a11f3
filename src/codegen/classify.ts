/**
 * Which kind of query each one is, decided from what it reads and writes (not from whether it
 * happens to take an :execution_environment parameter):
 * - `scoped`: binds :execution_environment on every read and write of a tagged relation (or
 *   takes the parameter and touches no tagged relation); offered on scopes only;
 * - `cross`: marked `-- cross-environment: <reason>`; offered on db.crossEnvironment;
 * - `shared`: touches no tagged relation; offered on db.shared and every scope.
 * A query that touches a tagged relation without binding it on every read and write, and is not
 * marked, is a problem: codegen fails and writes nothing, rather than offer a mode-blind read.
 *
 * Single-environment views (paper_trades, live_positions, ...) have the column and count as
 * tagged: a read of one is mode-specific on purpose, and says so with `-- cross-environment:`
 * and `-- environments: paper` (its rows are then branded paper). The environment lint
 * (src/lint/) accepts such a read unmarked, judging from the migrations alone where the view's
 * one environment is known; codegen, which offers the query to applications, is the stricter.
 */
import { analyseQuery, type Unscoped } from '../environment/environment-binding.js';
import { ENVIRONMENT_COLUMN as ENV_COLUMN } from '../domain/environment.js';
import { type Expansion, replacePlaceholders } from '../lint/sql-queries.js';
import { lineAt, type Node, parserReady, parseStatements } from '../parser/pg-ast.js';
import { type Cardinality, inferCardinality, type UniqueKeys } from './cardinality.js';
import type { QueryEnvironment } from '../runtime/query.js';
import type { TypedFile, TypedQuery } from './infer.js';
import type { CodegenProblem } from './problems.js';
import { toPartitionRoots, type TaggedRelations } from '../environment/tagged-relations.js';

export interface ClassifiedQuery extends TypedQuery {
  environment: QueryEnvironment;
  /** How many rows it returns: annotated (`-- @returns one`) or inferred (src/codegen/cardinality.ts). */
  returns: Cardinality;
  /** The statement's AST, with placeholders as `$n` (as replacePlaceholders numbers them), when it parses. */
  stmt?: Node;
  /** `$n` of `stmt` → parameter name. */
  stmtParams: Map<number, string>;
  /** Per result column: never null (true), may be null (false), or not known (src/codegen/nullability.ts). */
  resultNonNull?: (boolean | undefined)[];
  /** Per array result column: its elements are never null (true), or not known (src/codegen/nullability.ts). */
  resultElementsNonNull?: (boolean | undefined)[];
  /** Parameters not marked `!` that are written into a NOT NULL column: required all the same (`a.b` for a picked field). */
  requiredParams?: Set<string>;
}

export interface ClassifiedFile extends Omit<TypedFile, 'queries'> {
  queries: ClassifiedQuery[];
}

export async function classifyQueries(
  files: TypedFile[],
  relations: TaggedRelations,
  keys: UniqueKeys = new Map(),
): Promise<{ files: ClassifiedFile[]; problems: CodegenProblem[] }> {
  await parserReady();
  const problems: CodegenProblem[] = [];
  const classified = files.map((file) => ({
    ...file,
    queries: file.queries.map((query) => classify(file, query, relations, keys, problems)),
  }));
  return { files: classified, problems };
}

function classify(file: TypedFile, query: TypedQuery, relations: TaggedRelations, keys: UniqueKeys, problems: CodegenProblem[]): ClassifiedQuery {
  const { a, b } = query.ast.statement.loc;
  // pgtyped's :name placeholders become $n, line for line, so offsets map back to lines of the file.
  const expansions = queryExpansions(query);
  const { sql, params } = replacePlaceholders(file.text.slice(a, b + 1), expansions);
  let stmt: Node | undefined;
  try {
    stmt = parseStatements(sql)[0]?.stmt;
  } catch {
    stmt = undefined;
  }
  const environment = classifyEnvironment(file, query, relations, problems, sql, params, stmt);
  // An array of picks is as many rows as the caller passes: `VALUES :rows` parses as one row here.
  const manyRows = [...expansions.values()].some((expansion) => expansion.kind === 'picks');
  const inferred = stmt && query.types.returnTypes.length && !manyRows ? inferCardinality(stmt, keys) : 'many';
  const returns = query.returns ?? inferred;
  return { ...query, environment, returns, stmt, stmtParams: params };
}

/** The query's pgtyped expansions, from its parsed parameters. */
export function queryExpansions(query: TypedQuery): Map<string, Expansion> {
  const expansions = new Map<string, Expansion>();
  for (const param of query.ast.params) {
    const transform = param.transform as { type: string; keys?: { name: string }[] };
    if (transform.type === 'array_spread') expansions.set(param.name, { kind: 'spread' });
    else if (transform.type === 'pick_tuple' || transform.type === 'pick_array_spread') {
      expansions.set(param.name, { kind: transform.type === 'pick_tuple' ? 'pick' : 'picks', keys: (transform.keys ?? []).map((key) => key.name) });
    }
  }
  return expansions;
}

function classifyEnvironment(
  file: TypedFile,
  query: TypedQuery,
  { tagged, partitionRoots, undeclared }: TaggedRelations,
  problems: CodegenProblem[],
  sql: string,
  params: Map<number, string>,
  parsed: Node | undefined,
): QueryEnvironment {
  const { a } = query.ast.statement.loc;
  const startLine = file.text.slice(0, a).split('\n').length;
  let stmt;
  try {
    stmt = parseStatements(sql)[0]?.stmt;
  } catch (error) {
    problems.push(problem(file, query, startLine, undefined, `cannot be parsed to check its environment scoping: ${(error as Error).message}`));
    return 'shared';
  }
  if (!stmt || !parsed) return 'shared';
  toPartitionRoots(stmt, partitionRoots);
  const analysis = analyseQuery(stmt, params, tagged);
  if (query.crossEnvironment) return 'cross';
  const seen = new Set<string>();
  for (const ref of analysis.unscoped) {
    const key = `${ref.kind} ${ref.table}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem(file, query, startLine + lineAt(sql, ref.location) - 1, ref.table, unscopedMessage(ref, tagged)));
  }
  // A table with the column that is not declared has none of the guarantees: refused, as check and review refuse it.
  for (const table of new Set(analysis.tables.map((relation) => relation.table).filter((t) => undeclared?.has(t)))) {
    problems.push(problem(file, query, startLine, table,
      `${analysis.tables.some((r) => r.table === table && r.kind !== 'read') ? 'writes' : 'reads'} ${table}, which has an ${ENV_COLUMN} column but is not declared: no guard, [environment-role] policy or partition protects its rows, and none of its ids are branded. ` +
      `Declare it in the migration after CREATE TABLE: \`SELECT precog_environment_table('${table}', kind => 'append_only' | 'versioned' | 'mutable', ...)\``));
  }
  const touchesTagged = analysis.tables.some((relation) => tagged.has(relation.table));
  const bound = [...params.values()].includes(ENV_COLUMN);
  return touchesTagged || bound ? 'scoped' : 'shared';
}

const FIX_MARK = 'or mark it `-- cross-environment: <reason>`';

function unscopedMessage(ref: Unscoped, views: Set<string>): string {
  const pin = `\`AND ${ref.alias}.${ENV_COLUMN} = :${ENV_COLUMN}!\``;
  if (ref.kind === 'insert') {
    return `inserts into ${ref.table} without taking ${ENV_COLUMN} from :${ENV_COLUMN}!: ` +
      `list ${ENV_COLUMN} among the columns with the value :${ENV_COLUMN}! (in every row), ${FIX_MARK}`;
  }
  const verb = ref.kind === 'write' ? 'changes' : 'reads';
  // Name a single-environment view only where one exists: a new table has none yet.
  const view = ['paper', 'live', 'backtest'].map((env) => `${env}_${ref.table}`).find((name) => views.has(name));
  const viewFix = view
    ? `use a single-environment view, ${view} (with \`-- cross-environment: <reason>\` and \`-- environments: ${view.split('_')[0]}\`), `
    : '';
  return `${verb} ${ref.table} without binding ${ENV_COLUMN} to :${ENV_COLUMN}! (a mode-blind ${ref.kind === 'write' ? 'write' : 'read'}): ` +
    `add ${pin} to its WHERE (or JOIN ... ON), ${viewFix}${FIX_MARK}`;
}

function problem(file: TypedFile, query: TypedQuery, line: number, table: string | undefined, message: string): CodegenProblem {
  const source = file.text.split('\n')[line - 1] ?? '';
  const at = table ? new RegExp(`\\b${table}\\b`).exec(source)?.index : undefined;
  return { path: file.path, query: query.name, message, line, column: (at ?? source.search(/\S|$/)) + 1, source };
}
