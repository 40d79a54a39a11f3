/**
 * For .gmrc.cjs: the connection strings graphile-migrate's own CLI needs, as JSON on stdout.
 * DATABASE_URL when set, otherwise the embedded server (started if needed); the database and its
 * shadow are created when missing, as `npm run gm` does.
 */
import { connectionString } from '../server/connection-string.js';
import { ensureDatabase, resolveTarget } from '../server/resolve.js';
import { runCommand } from './run-command.js';

runCommand(async () => {
  const { server, database } = await resolveTarget();
  await ensureDatabase(server, database);
  await ensureDatabase(server, `${database}_shadow`);
  const connections = {
    connectionString: process.env.DATABASE_URL ?? connectionString(server, database),
    shadowConnectionString: process.env.SHADOW_DATABASE_URL ?? connectionString(server, `${database}_shadow`),
    rootConnectionString: process.env.ROOT_DATABASE_URL ?? connectionString(server, 'postgres'),
    databaseOwner: server.user,
  };
  process.stdout.write(`${JSON.stringify(connections)}\n`);
});
