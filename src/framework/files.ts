/**
 * The environment framework's SQL source: db/framework/, one file per function (README there).
 * A file holds one function's CREATE OR REPLACE FUNCTION, its COMMENT and its grants, nothing else,
 * so that running it again changes nothing and a migration can carry it whole.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { parseStatements, parserReady, unwrap, type Node } from '../parser/pg-ast.js';
import { PROJECT_ROOT } from '../server/embedded.js';

export const FRAMEWORK_FOLDER = 'db/framework';

export interface FrameworkFile {
  /** Relative to the project root, with forward slashes: db/framework/guards/x.sql. */
  path: string;
  text: string;
}

/** Every .sql file below db/framework, in path order (the order a migration carries them in). */
export function frameworkFiles(root: string = PROJECT_ROOT): FrameworkFile[] {
  const dir = join(root, FRAMEWORK_FOLDER);
  const found: string[] = [];
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(folder, entry.name));
      else if (entry.name.endsWith('.sql')) found.push(join(folder, entry.name));
    }
  };
  walk(dir);
  return found
    .map((file) => relative(root, file).split(sep).join('/'))
    .sort()
    .map((path) => ({ path, text: readFileSync(join(root, path), 'utf8') }));
}

/** Kinds of statement a framework file may hold: each is idempotent when run again. */
const ALLOWED = new Set(['CreateFunctionStmt', 'CommentStmt', 'GrantStmt']);

/**
 * The functions a file defines (by name), and what in it breaks the one-file-one-function form:
 * a statement other than a function's definition, comment or grants, a CREATE FUNCTION without
 * OR REPLACE, or a file whose name is not the function's.
 */
export async function readFrameworkFile(file: FrameworkFile): Promise<{ functions: string[]; problems: string[] }> {
  await parserReady();
  const problems: string[] = [];
  const functions: string[] = [];
  let statements;
  try {
    statements = parseStatements(file.text);
  } catch (error) {
    return { functions, problems: [`${file.path} does not parse: ${(error as Error).message}`] };
  }
  for (const { stmt } of statements) {
    const [type, body] = unwrap(stmt) as [string, Node];
    if (!ALLOWED.has(type) || (type !== 'CreateFunctionStmt' && body.objtype !== 'OBJECT_FUNCTION')) {
      problems.push(`${file.path} holds a ${type}: a framework file holds a function's CREATE OR REPLACE FUNCTION, COMMENT ON FUNCTION and GRANT/REVOKE only (tables, triggers and data changes go in the migration)`);
      continue;
    }
    if (type === 'CreateFunctionStmt') {
      const name = (body.funcname as Node[]).map((n) => n.String.sval).pop() as string;
      functions.push(name);
      if (!body.replace) problems.push(`${file.path}: write CREATE OR REPLACE FUNCTION ${name} (the file runs again in every migration that ships a change)`);
    }
  }
  const base = file.path.slice(file.path.lastIndexOf('/') + 1, -'.sql'.length);
  if (functions.length === 0) problems.push(`${file.path} defines no function`);
  else if (!functions.includes(base)) problems.push(`${file.path} is named after none of its functions (${functions.join(', ')}): name the file after the function it defines`);
  return { functions, problems };
}
