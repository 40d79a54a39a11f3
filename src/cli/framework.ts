/**
 * `npm run framework`: after editing a file of db/framework, puts what a migration must ship into
 * migrations/current.sql: a block per file that differs from what the committed migrations
 * install, and the call that regenerates every declared table (db/framework/README.md).
 * `npm run gm -- commit` does the same before committing.
 */
import { shipFramework } from '../framework/ship.js';
import { resolveTarget } from '../server/resolve.js';
import { runCommand } from './run-command.js';

runCommand(async () => {
  const { server } = await resolveTarget();
  const { added, refreshed } = await shipFramework(server);
  for (const path of added) console.log(`migrations/current.sql now carries ${path}`);
  for (const path of refreshed) console.log(`migrations/current.sql: ${path} refreshed from the file`);
  if (!added.length && !refreshed.length) console.log('migrations/current.sql already carries every changed framework file.');
});
