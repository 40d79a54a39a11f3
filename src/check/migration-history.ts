/**
 * Committed migrations are history: once committed, never edited. graphile-migrate notices an
 * edit only when it next runs that migration; this check says so before anyone runs anything.
 */
import { execFileSync } from 'node:child_process';
import { parseSettings } from 'graphile-migrate/dist/settings.js';
import { calculateHash } from 'graphile-migrate/dist/hash.js';
import { getAllMigrations } from 'graphile-migrate/dist/migration.js';
import { PROJECT_ROOT } from '../project.js';
import { COMMITTED_DIR, MIGRATIONS_DIR } from '../migrations/settings.js';

export async function migrationHistoryProblems(): Promise<string[]> {
  const problems: string[] = [];
  // The connection string is never used: parseSettings only needs one to be present.
  const settings = await parseSettings({ connectionString: 'postgres://unused/unused', migrationsFolder: MIGRATIONS_DIR });
  try {
    for (const migration of await getAllMigrations(settings)) {
      if (calculateHash(migration.body, migration.previousHash) !== migration.hash) {
        problems.push(
          `migrations/committed/${migration.realFilename} was edited after it was committed (its --! Hash no longer matches). ` +
            'Restore it (git checkout -- that file) and put the change in migrations/current.sql instead.',
        );
      }
    }
  } catch (error) {
    problems.push(`migrations/committed: ${(error as Error).message}`);
  }
  problems.push(...changedSinceHead());
  return problems;
}

/** Modified or deleted committed migrations, compared with git's HEAD (new files are fine). */
function changedSinceHead(): string[] {
  let output: string;
  try {
    output = execFileSync('git', ['diff', '--name-status', 'HEAD', '--', COMMITTED_DIR], { cwd: PROJECT_ROOT, stdio: 'pipe' }).toString();
  } catch {
    return []; // not a git checkout (an unpacked tarball): the hash check above still runs
  }
  return output
    .split('\n')
    .filter((line) => /^[MD]\t/.test(line))
    .map((line) => `${line.slice(2)} was ${line[0] === 'M' ? 'modified' : 'deleted'}; committed migrations are never changed. Restore it with git checkout -- ${line.slice(2)}.`);
}
