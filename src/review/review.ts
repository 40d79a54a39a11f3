/**
 * `precog-db review`: base vs head (the working tree). Both schemas are built from migrations
 * alone in scratch databases: the base's from its committed migrations and current.sql
 * extracted with git into a temp folder, the head's from the working tree's.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, watch } from 'graphile-migrate';
import { dropDatabase, freshDatabase } from '../migrations/fresh-database.js';
import { quietLogger } from '../migrations/logger.js';
import { COMMITTED_DIR, CURRENT_MIGRATION, migrateSettings } from '../migrations/settings.js';
import type { ServerTarget } from '../server/connection-string.js';
import { PROJECT_ROOT } from '../project.js';
import { ensureDatabase } from '../server/resolve.js';
import { lintProject } from '../lint/environment-lint.js';
import type { Finding, LocatedFinding } from '../lint/finding.js';
import { type Base, fileAt, filesAt, resolveBase } from './git-base.js';
import { diffEnums, diffImporters, type ImporterChange, parseGenerated } from './importer-diff.js';
import { diffSnapshots, type SchemaChange } from './schema-diff.js';
import { judgeChange } from './judge.js';
import { type Declared, foldDeclarations } from './declared.js';
import { locate } from './render-finding.js';
import { squawk } from './squawk.js';

export interface ReviewReport {
  base: Base;
  /** Schema changes, less the objects of the declarations the change makes (in `declared`). */
  schemaChanges: SchemaChange[];
  /** One entry per table the change declares, holding the objects the declaration installs. */
  declared: Declared[];
  importerChanges: ImporterChange[];
  /** Migrations new or changed since the base (and current.sql when it has content). */
  lintedMigrations: string[];
  migrationLint: LocatedFinding[];
  environmentLint: LocatedFinding[];
  /** What the change does to the guarantees: invariants of the head, data changes, consumers, conventions. */
  points: Finding[];
  blocking: number;
}

export async function review(server: ServerTarget, baseRef?: string): Promise<ReviewReport> {
  const base = resolveBase(baseRef);
  const baseCommitted = filesAt(base.commit, 'migrations/committed', '.sql');
  const baseCurrent = fileAt(base.commit, 'migrations/current.sql');

  const headCommitted = readdirSync(COMMITTED_DIR).filter((name) => name.endsWith('.sql')).sort();
  const lintedMigrations = headCommitted
    .filter((name) => baseCommitted.get(name) !== readFileSync(join(COMMITTED_DIR, name), 'utf8'))
    .map((name) => `migrations/committed/${name}`);
  const current = readIfExists(CURRENT_MIGRATION);
  if (hasContent(current)) lintedMigrations.push('migrations/current.sql');
  const migrations = lintedMigrations.map((path) => ({ path, text: readFileSync(join(PROJECT_ROOT, path), 'utf8') }));
  // The head is the base plus the new migrations, unless the change edits one the base has
  // (or the base's current.sql had content): then it is built from its own migrations.
  const editsBase = lintedMigrations.some((path) => baseCommitted.has(path.slice(path.lastIndexOf('/') + 1))) || hasContent(baseCurrent);

  const baseDatabase = `precog_review_base_${process.pid}`;
  const headDatabase = `precog_review_head_${process.pid}`;
  const headSql = readdirSync(join(PROJECT_ROOT, 'sql')).filter((name) => name.endsWith('.sql')).sort()
    .map((name) => ({ path: `sql/${name}`, text: readFileSync(join(PROJECT_ROOT, 'sql', name), 'utf8') }));
  let judgement;
  try {
    await buildFromFiles(server, baseDatabase, baseCommitted, baseCurrent);
    if (editsBase) await freshDatabase(server, headDatabase, { includeCurrent: true });
    judgement = await judgeChange({
      server, baseDatabase, migrations, ...(editsBase && { headDatabase }),
      baseSql: [...filesAt(base.commit, 'sql', '.sql')].map(([name, text]) => ({ path: `sql/${name}`, text })),
      headSql,
    });
  } finally {
    await dropDatabase(server, baseDatabase);
    await dropDatabase(server, headDatabase);
  }

  const migrationLint = await squawk(lintedMigrations);
  const environmentLint = await lintProject();
  const baseGenerated = filesAt(base.commit, 'generated', '.ts');
  const importerChanges = [
    ...diffEnums(baseGenerated.get('enums.ts'), headGenerated().get('enums.ts')),
    ...diffImporters(parseGenerated(baseGenerated), parseGenerated(headGenerated())),
  ];
  // A breaking change for importers is called out, not blocked: it may be intended (the callers change with it).
  const blocking = [...migrationLint, ...environmentLint, ...judgement.points].filter((finding) => finding.blocking).length;
  const { changes: schemaChanges, declared } = foldDeclarations(diffSnapshots(judgement.baseSnapshot, judgement.headSnapshot), judgement.installed);
  return {
    base, schemaChanges, declared, importerChanges, lintedMigrations,
    migrationLint, environmentLint, points: judgement.points.map((p) => locate(p, migrations, headSql)), blocking,
  };
}

/** Migrates a new database from the given migration files, as graphile-migrate would. */
async function buildFromFiles(server: ServerTarget, database: string, committed: Map<string, string>, current: string | undefined): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), 'precog-review-'));
  try {
    mkdirSync(join(folder, 'committed'));
    for (const [name, text] of committed) writeFileSync(join(folder, 'committed', name), text);
    writeFileSync(join(folder, 'current.sql'), current ?? '');
    await dropDatabase(server, database);
    await ensureDatabase(server, database);
    const settings = { ...migrateSettings(server, database), migrationsFolder: folder, logger: quietLogger };
    await migrate(settings);
    if (hasContent(current)) await watch(settings, true);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

function headGenerated(): Map<string, string> {
  const dir = join(PROJECT_ROOT, 'generated');
  const files = new Map<string, string>();
  if (!existsSync(dir)) return files;
  for (const name of readdirSync(dir).filter((file) => file.endsWith('.ts'))) files.set(name, readFileSync(join(dir, name), 'utf8'));
  return files;
}

const readIfExists = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);
/** current.sql holding only comments is empty for graphile-migrate too. */
const hasContent = (sql: string | undefined) => Boolean(sql && sql.replace(/--.*$/gm, '').trim());
