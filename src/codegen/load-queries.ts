/** Reads sql/*.sql with pgtyped's parser: one query per `/* @name verbNoun *\/` block. */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { parseSQLFile, queryASTToIR, type SQLQueryAST, type SQLQueryIR } from '@pgtyped/parser';
import { PROJECT_ROOT } from '../server/embedded.js';
import { type CodegenProblem, locate } from './problems.js';

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
}

const QUERY_NAME = /^[a-z][a-zA-Z0-9]*$/;

export function loadSqlFiles(dir = SQL_DIR): { files: SqlFile[]; problems: CodegenProblem[] } {
  const files: SqlFile[] = [];
  const problems: CodegenProblem[] = [];
  const seen = new Map<string, string>();
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
    for (const ast of queries) {
      const at = locate(text, ast.statement.loc.a);
      if (!QUERY_NAME.test(ast.name)) {
        problems.push({ path, query: ast.name, message: 'query names are verbNoun in camelCase, e.g. getTradeById', ...at });
      } else if (seen.has(ast.name)) {
        problems.push({ path, query: ast.name, message: `the name is already used in ${seen.get(ast.name)}`, ...at });
      }
      seen.set(ast.name, path);
      const nonScalar = ast.params.find((param) => param.transform.type !== 'scalar');
      if (nonScalar) {
        problems.push({
          path,
          query: ast.name,
          message: `parameter :${nonScalar.name} uses a pgtyped expansion; pass a PostgreSQL array instead (= ANY(:${nonScalar.name}::int[]))`,
          ...at,
        });
      }
      loaded.push({ name: ast.name, ast, ir: queryASTToIR(ast) });
    }
    files.push({ path, module: basename(name, '.sql'), text, queries: loaded });
  }
  return { files, problems };
}
