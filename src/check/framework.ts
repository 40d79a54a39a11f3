/**
 * `npm run check`: the framework's files are its one source. Refused: a file of db/framework that
 * differs from what the migrations (current.sql included) install, naming the function; a function
 * of the schema with no file; a block of current.sql older than its file; and a migration after the
 * re-baseline that defines a function itself instead of carrying its file.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { blocksOf, staleBlocks } from '../framework/blocks.js';
import { driftProblems, frameworkDrift } from '../framework/drift.js';
import { frameworkFiles } from '../framework/files.js';
import { dropDatabase, freshDatabase } from '../migrations/fresh-database.js';
import { COMMITTED_DIR, CURRENT_MIGRATION } from '../migrations/settings.js';
import { parseStatements, parserReady, unwrap } from '../parser/pg-ast.js';
import type { ServerTarget } from '../server/connection-string.js';
import { connect } from '../server/resolve.js';

/** The first migration whose functions all come from db/framework. */
export const FRAMEWORK_BASELINE = '000014';

export async function frameworkProblems(server: ServerTarget): Promise<string[]> {
  const files = frameworkFiles();
  const problems = [...(await migrationsDefiningFunctions()), ...staleCurrentBlocks(files)];
  const database = `precog_check_${randomBytes(4).toString('hex')}`;
  await freshDatabase(server, database, { includeCurrent: true });
  const client = await connect(server, database);
  try {
    await client.query('BEGIN');
    problems.push(...driftProblems(await frameworkDrift(client, files), 'the migrations'));
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end();
    await dropDatabase(server, database);
  }
  return problems;
}

function staleCurrentBlocks(files: ReturnType<typeof frameworkFiles>): string[] {
  if (!existsSync(CURRENT_MIGRATION)) return [];
  return staleBlocks(readFileSync(CURRENT_MIGRATION, 'utf8'), files).map(
    (path) => `migrations/current.sql carries an old copy of ${path} (or the file is gone): run npm run framework, which copies the files in again.`,
  );
}

/** CREATE FUNCTION outside a framework block, in current.sql or a migration since the re-baseline. */
async function migrationsDefiningFunctions(): Promise<string[]> {
  await parserReady();
  const migrations = readdirSync(COMMITTED_DIR)
    .filter((name) => name.endsWith('.sql') && name >= FRAMEWORK_BASELINE)
    .map((name) => ({ path: `migrations/committed/${name}`, text: readFileSync(join(COMMITTED_DIR, name), 'utf8') }));
  if (existsSync(CURRENT_MIGRATION)) migrations.push({ path: 'migrations/current.sql', text: readFileSync(CURRENT_MIGRATION, 'utf8') });
  const problems: string[] = [];
  for (const migration of migrations) {
    let outside = migration.text;
    for (const b of blocksOf(migration.text)) outside = outside.replace(b.text, '');
    let statements;
    try {
      statements = parseStatements(outside);
    } catch {
      continue; // the lint reports SQL that does not parse
    }
    for (const { stmt } of statements) {
      const [type, body] = unwrap(stmt);
      if (type !== 'CreateFunctionStmt') continue;
      const name = (body.funcname as { String: { sval: string } }[]).map((n) => n.String.sval).pop();
      problems.push(
        `${migration.path} defines function ${name} itself: a function's one source is its file in db/framework (db/framework/README.md). ` +
          'Write it there and run npm run framework, which copies it into current.sql.',
      );
    }
  }
  return problems;
}
