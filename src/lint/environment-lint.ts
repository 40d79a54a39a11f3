/**
 * The environment-safety lint over sql/ and the migrations (`npm run check` and `npm run review`).
 * Queries: every read or write of a relation that holds more than one environment must be pinned
 * to the scope's :execution_environment, or read a single-environment view, or say why not with
 * a `-- cross-environment: <reason>` line in its block. Migrations: see migration-rules.ts.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PROJECT_ROOT } from '../project.js';
import { ANNOTATION, migrationFindings, multiEnvironmentRelations, readMigrations, type MigrationModel, type SourceFile } from './migration-rules.js';
import { unscopedReferences } from '../environment/environment-binding.js';
import { type LocatedFinding, located } from './finding.js';
import { lineAt, parserReady, parseStatements, sliceBytes } from '../parser/pg-ast.js';
import { queryBlocks } from './sql-queries.js';

export type { Finding, LocatedFinding } from './finding.js';

export interface LintOptions {
  /** Project root holding sql/ and migrations/; the real project by default (tests pass fixtures). */
  root?: string;
}

export async function lintProject(options: LintOptions = {}): Promise<LocatedFinding[]> {
  const root = options.root ?? PROJECT_ROOT;
  await parserReady();
  const model = readMigrations(migrationFiles(root));
  const findings = [...migrationFindings(model), ...lintQueries(sqlFiles(root), model)];
  return findings.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line));
}

/** Committed migrations in order, then current.sql (the one being written). */
export function migrationFiles(root: string): SourceFile[] {
  const committed = join(root, 'migrations', 'committed');
  const paths = existsSync(committed) ? readdirSync(committed).filter((f) => f.endsWith('.sql')).sort().map((f) => join(committed, f)) : [];
  const current = join(root, 'migrations', 'current.sql');
  if (existsSync(current)) paths.push(current);
  return paths.map((path) => ({ path: relative(root, path), text: readFileSync(path, 'utf8') }));
}

function sqlFiles(root: string): SourceFile[] {
  const dir = join(root, 'sql');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.sql')).sort().map((f) => ({ path: relative(root, join(dir, f)), text: readFileSync(join(dir, f), 'utf8') }));
}

export function lintQueries(files: SourceFile[], model: MigrationModel): LocatedFinding[] {
  const tagged = multiEnvironmentRelations(model);
  const findings: LocatedFinding[] = [];
  for (const file of files) {
    for (const block of queryBlocks(file.text)) {
      const report = (line: number, rule: string, message: string, blocking = true) =>
        findings.push(located(file.path, block.line + line - 1, rule, message, blocking, `${file.path}:${block.name}`));
      let statements;
      try {
        statements = parseStatements(block.sql);
      } catch (error) {
        report(1, 'env/parse-error', `query ${block.name} cannot be parsed: ${(error as Error).message}`);
        continue;
      }
      const first = statements[0];
      if (!first) continue;
      // The annotation counts inside the block up to the end of its statement, not in the next query's doc comment.
      const annotation = ANNOTATION.exec(sliceBytes(block.sql, 0, first.end));
      const unscoped = unscopedReferences(first.stmt, block.params, tagged);
      if (annotation) {
        const reason = annotation[1]!.trim();
        const line = lineAt(block.sql, Buffer.byteLength(block.sql.slice(0, annotation.index)));
        if (!reason) report(line, 'env/annotation-without-reason', `query ${block.name}: "-- cross-environment:" must give the reason`);
        else if (unscoped.length) report(line, 'env/cross-environment', `query ${block.name} reads across environments on purpose: ${reason}`, false);
        if (reason) continue;
      }
      const seen = new Set<string>();
      for (const ref of unscoped) {
        const key = `${ref.kind} ${ref.table}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const message = ref.kind === 'insert'
          ? `query ${block.name} writes ${ref.table} without taking execution_environment from :execution_environment`
          : `query ${block.name} ${ref.kind === 'write' ? 'changes' : 'reads'} ${ref.table} without constraining execution_environment to :execution_environment (use a single-environment view, or add "-- cross-environment: <reason>")`;
        report(lineAt(block.sql, ref.location), ref.kind === 'read' ? 'env/unscoped-query' : 'env/unscoped-write', message);
      }
    }
  }
  return findings;
}
