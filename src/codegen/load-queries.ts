/** Reads sql/*.sql with pgtyped's parser: one query per `/* @name verbNoun *\/` block. */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { parseSQLFile, queryASTToIR, type SQLQueryAST, type SQLQueryIR } from '@pgtyped/parser';
import { PROJECT_ROOT } from '../project.js';
import { type CodegenProblem, locate } from './problems.js';
import { annotatedCardinality, type Cardinality } from './cardinality.js';
import { ENVIRONMENTS as ENVIRONMENT_NAMES } from '../domain/environment.js';

const ENVIRONMENTS: string[] = [...ENVIRONMENT_NAMES];

export const SQL_DIR = join(PROJECT_ROOT, 'sql');

export interface SqlFile {
  /** Path relative to the project, for messages and generated headers. */
  path: string;
  /** Module name in generated/: sql/game-states.sql → game-states. */
  module: string;
  text: string;
  queries: LoadedQuery[];
}

export interface LoadedQuery {
  name: string;
  ast: SQLQueryAST;
  ir: SQLQueryIR;
  /** From `-- cross-environment: <reason>` in the query's block: it reads several environments on purpose. */
  crossEnvironment?: { reason: string; environments: string[] };
  /** From `-- scd-write: <why>`: writes a new SCD version, to be retried when superseded. */
  scdWrite?: true;
  /** From `-- @returns one|maybe|many`: how many rows it returns (inferred when absent). */
  returns?: Cardinality;
}


/** A JavaScript identifier, as pgtyped accepts: PascalCase (its documented style), camelCase or snake_case. */
const QUERY_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const RESERVED = new Set(
  'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface package private protected public await'.split(' '),
);

/** The exported function's name, as pgtyped derives it: `FindBookById` and `find_book_by_id` → `findBookById`. */
export function functionName(name: string): string {
  const camel = name.replace(/_+([A-Za-z0-9])/g, (_, letter: string) => letter.toUpperCase()).replace(/_+$/, '');
  return camel.charAt(0).toLowerCase() + camel.slice(1);
}

export function loadSqlFiles(dir = SQL_DIR): { files: SqlFile[]; problems: CodegenProblem[] } {
  const files: SqlFile[] = [];
  const problems: CodegenProblem[] = [];
  const seen = new Map<string, { path: string; written: string }>();
  for (const name of readdirSync(dir).filter((file) => file.endsWith('.sql')).sort()) {
    const absolute = join(dir, name);
    const path = relative(PROJECT_ROOT, absolute);
    const text = readFileSync(absolute, 'utf8').replace(/\r\n/g, '\n');
    const { queries, events } = parseSQLFile(text);
    for (const event of events) {
      if (event.type !== 2) continue; // warnings (an unused param) surface as type errors anyway
      problems.push({ path, query: undefined, message: event.message.text, ...locate(text, event.location?.a ?? 0) });
    }
    const loaded: LoadedQuery[] = [];
    let blockStart = 0;
    for (const ast of queries) {
      const at = locate(text, ast.statement.loc.a);
      // The query's block: from the end of the previous statement to the end of this one.
      const block = text.slice(blockStart, ast.statement.loc.b + 1);
      blockStart = ast.statement.loc.b + 1;
      const name = functionName(ast.name);
      if (!QUERY_NAME.test(ast.name) || !/^[A-Za-z$]/.test(name) || RESERVED.has(name)) {
        problems.push({ path, query: ast.name, message: 'a query name must be a JavaScript identifier (e.g. getTradeById or GetTradeById), not a reserved word', ...at });
      } else if (seen.has(name)) {
        const other = seen.get(name)!;
        problems.push({ path, query: ast.name, message: `the function name ${name} is already used by @name ${other.written} in ${other.path}`, ...at });
      }
      seen.set(name, { path, written: ast.name });
      for (const param of ast.params) {
        if (param.name === 'execution_environment' && param.transform.type !== 'scalar') {
          problems.push({ path, query: ast.name, message: ':execution_environment is bound by the scope: it cannot be an expansion', ...at });
        }
      }
      const crossEnvironment = crossEnvironmentAnnotation(block);
      const unknown = crossEnvironment?.environments.filter((environment) => !ENVIRONMENTS.includes(environment));
      if (unknown?.length) {
        problems.push({ path, query: ast.name, message: `-- environments: names unknown environments ${unknown.join(', ')} (allowed: ${ENVIRONMENTS.join(', ')})`, ...at });
      }
      const scdWrite = /^\s*--\s*scd-write:/m.test(block) ? { scdWrite: true as const } : {};
      const returns = annotatedCardinality(block);
      loaded.push({ name, ast, ir: queryASTToIR(ast), ...(crossEnvironment && { crossEnvironment }), ...scdWrite, ...(returns && { returns }) });
    }
    files.push({ path, module: basename(name, '.sql'), text, queries: loaded });
  }
  return { files, problems };
}

/**
 * `-- cross-environment: <reason>` marks a query that reads several environments on purpose;
 * `-- environments: paper, backtest` narrows which (default: all three).
 */
function crossEnvironmentAnnotation(block: string): LoadedQuery['crossEnvironment'] {
  const reason = /^\s*--\s*cross-environment:\s*(.+)$/m.exec(block)?.[1]?.trim();
  if (!reason) return undefined;
  const listed = /^\s*--\s*environments:\s*(.+)$/m.exec(block)?.[1];
  const environments = listed ? listed.split(',').map((name) => name.trim()).filter(Boolean) : ENVIRONMENTS;
  return { reason, environments };
}
