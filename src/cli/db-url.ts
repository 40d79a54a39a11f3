/**
 * `npm run db:url`: the connection string of the server precog-db uses (DATABASE_URL when set,
 * otherwise the embedded server, started if needed), on stdout and nothing else:
 *
 *   DATABASE_URL=$(npm run -s db:url) node app.mjs
 *   psql "$(npm run -s db:url)"
 *
 * It includes the password (the embedded superuser's lives in .precog/superuser-password):
 * do not paste it into logs. `--database <name>` names another database on the same server.
 * `--environment live|paper|backtest|analyst|ingest` gives the URL of that environment's own
 * login on the embedded server (README, Deploying), which `npm start` creates.
 */
import { connectionString } from '../server/connection-string.js';
import { embeddedLayout } from '../server/embedded.js';
import { LOGIN_ROLES, loginTarget, readLoginPasswords, type LoginName } from '../server/environment-logins.js';
import { ensureDatabase, resolveTarget } from '../server/resolve.js';
import { runCommand } from './run-command.js';

const option = (flag: string): string | undefined => {
  const at = process.argv.indexOf(flag);
  if (at < 0) return undefined;
  const value = process.argv[at + 1];
  if (!value || value.startsWith('--')) throw new Error(`${flag} needs a value.`);
  return value;
};

runCommand(async () => {
  const name = option('--database');
  const environment = option('--environment');
  if (environment && !(environment in LOGIN_ROLES)) {
    throw new Error(`--environment ${environment} is unknown; use one of ${Object.keys(LOGIN_ROLES).join(', ')}.`);
  }
  if (process.env.DATABASE_URL && !name && !environment) {
    process.stdout.write(`${process.env.DATABASE_URL}\n`);
    return;
  }
  if (process.env.DATABASE_URL && environment) {
    throw new Error('--environment gives the logins npm start creates on the embedded server; with DATABASE_URL, your operator provisions them (README, Deploying).');
  }
  const { server, database } = await resolveTarget();
  await ensureDatabase(server, name ?? database);
  if (!environment) {
    process.stdout.write(`${connectionString(server, name ?? database)}\n`);
    return;
  }
  const password = readLoginPasswords(embeddedLayout().home)[environment as LoginName];
  if (!password) throw new Error(`no ${environment} login on the embedded server yet: run npm start, which creates it.`);
  process.stdout.write(`${connectionString(loginTarget(server, environment as LoginName, password), name ?? database)}\n`);
});
