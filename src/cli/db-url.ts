/**
 * `npm run db:url`: the connection string of the server precog-db uses (DATABASE_URL when set,
 * otherwise the embedded server, started if needed), on stdout and nothing else:
 *
 *   DATABASE_URL=$(npm run -s db:url) node app.mjs
 *   psql "$(npm run -s db:url)"
 *
 * It includes the password (the embedded superuser's lives in .precog/superuser-password):
 * do not paste it into logs. `--database <name>` names another database on the same server.
 */
import { connectionString } from '../server/connection-string.js';
import { ensureDatabase, resolveTarget } from '../server/resolve.js';
import { runCommand } from './run-command.js';

runCommand(async () => {
  const { server, database } = await resolveTarget();
  const at = process.argv.indexOf('--database');
  const name = at >= 0 ? process.argv[at + 1] : undefined;
  if (at >= 0 && !name) throw new Error('--database needs a database name.');
  if (process.env.DATABASE_URL && !name) {
    process.stdout.write(`${process.env.DATABASE_URL}\n`);
    return;
  }
  await ensureDatabase(server, name ?? database);
  process.stdout.write(`${connectionString(server, name ?? database)}\n`);
});
