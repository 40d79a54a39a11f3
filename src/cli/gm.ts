/**
 * `npm run gm -- <command>`: the graphile-migrate CLI against precog-db's server
 * (DATABASE_URL or the embedded one), e.g. `npm run gm -- status`, `npm run gm -- commit`.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { ensureDatabase, resolveTarget } from '../server/resolve.js';
import { PROJECT_ROOT } from '../server/embedded.js';
import { migrateEnvironment } from '../migrations/settings.js';
import { runCommand } from './run-command.js';

runCommand(async () => {
  const { server, database } = await resolveTarget();
  await ensureDatabase(server, database);
  await ensureDatabase(server, `${database}_shadow`);
  const cli = join(dirname(createRequire(import.meta.url).resolve('graphile-migrate/package.json')), 'dist', 'cli.js');
  const result = spawnSync(process.execPath, [cli, ...process.argv.slice(2)], {
    cwd: PROJECT_ROOT,
    stdio: 'inherit',
    env: { ...process.env, ...migrateEnvironment(server, database) },
  });
  process.exitCode = result.status ?? 1;
  if (result.status !== 0) throw new Error(`graphile-migrate ${process.argv.slice(2).join(' ')} exited with ${result.status}.`);
});
