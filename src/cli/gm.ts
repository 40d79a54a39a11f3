/**
 * `npm run gm -- <command>`: the graphile-migrate CLI against precog-db's server
 * (DATABASE_URL or the embedded one), e.g. `npm run gm -- status`, `npm run gm -- commit`.
 * `commit` first copies the framework files that changed into current.sql (npm run framework).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { ensureDatabase, resolveTarget } from '../server/resolve.js';
import { PROJECT_ROOT } from '../server/embedded.js';
import { migrateEnvironment } from '../migrations/settings.js';
import { cloneDatabase, migratedTemplate } from '../migrations/fresh-database.js';
import { currentAppliedTo } from '../migrations/current-state.js';
import { shipFramework } from '../framework/ship.js';
import { runCommand } from './run-command.js';

runCommand(async () => {
  const { server, database } = await resolveTarget();
  await ensureDatabase(server, database);
  await ensureDatabase(server, `${database}_shadow`);
  if (process.argv[2] === 'commit' && (await currentAppliedTo(server, database))) {
    // The dev database has current.sql applied (npm run dev, graphile-migrate watch). commit applies
    // the new committed migration to it, which fails for a migration written the natural, not
    // idempotent, way (ADD COLUMN twice). So it goes back to the committed migrations first.
    await cloneDatabase(server, await migratedTemplate(server), database);
    console.error(`${database} reset to the committed migrations before commit (current.sql was applied to it).`);
  }
  if (process.argv[2] === 'commit') {
    // The migration carries the framework files it ships, as they are now (db/framework/README.md).
    const { added, refreshed } = await shipFramework(server);
    for (const path of [...added, ...refreshed]) console.error(`migrations/current.sql: ${path} copied in from the file before commit.`);
  }
  const cli = join(dirname(createRequire(import.meta.url).resolve('graphile-migrate/package.json')), 'dist', 'cli.js');
  const result = spawnSync(process.execPath, [cli, ...process.argv.slice(2)], {
    cwd: PROJECT_ROOT,
    stdio: 'inherit',
    env: { ...process.env, ...migrateEnvironment(server, database) },
  });
  process.exitCode = result.status ?? 1;
  if (result.status !== 0) throw new Error(`graphile-migrate ${process.argv.slice(2).join(' ')} exited with ${result.status}.`);
});
