/** `npm start`: the server, the migrated database and fresh generated code, then a summary. */
import { migrate } from 'graphile-migrate';
import { codegen } from '../codegen/codegen.js';
import { describeDatabase } from '../server/connection-string.js';
import { embeddedLayout } from '../server/embedded.js';
import { ensureEnvironmentLogins, loginRole, LOGIN_ROLES, type LoginName } from '../server/environment-logins.js';
import { connect, ensureDatabase, resolveTarget } from '../server/resolve.js';
import { quietLogger } from '../migrations/logger.js';
import { migrateSettings } from '../migrations/settings.js';
import { hasCurrentMigration } from '../migrations/fresh-database.js';
import { runCommand } from './run-command.js';

runCommand(async () => {
  const started = Date.now();
  const { server, database } = await resolveTarget();
  await ensureDatabase(server, database);
  const before = await appliedMigrations(server, database);
  await migrate({ ...migrateSettings(server, database), logger: quietLogger });
  const after = await appliedMigrations(server, database);
  const generated = await codegen(server);
  const { tables, views } = await countRelations(server, database);
  // The embedded server gets one login per environment (README, Deploying); a server of
  // DATABASE_URL is the operator's to provision.
  const logins = process.env.DATABASE_URL ? undefined : await provisionLogins(server, database);

  console.log(
    [
      `precog-db ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      `  server      ${server.origin}`,
      `  database    ${describeDatabase(server, database)}`,
      `  connect     npm run -s db:url prints its connection string: DATABASE_URL=$(npm run -s db:url), psql "$(npm run -s db:url)"`,
      `  migrations  ${after.length} applied (${after.length - before.length} new this run), latest ${after.at(-1) ?? 'none'}`,
      `  schema      ${tables} tables, ${views} views`,
      `  generated   ${generated.queries} query functions in ${generated.files} files (${generated.changed.length} changed)`,
      ...(logins ? [`  logins      ${logins.join(', ')} (passwords in ${embeddedLayout().home}/logins.json)`] : []),
      // Codegen builds its own database with current.sql; this one has the committed migrations
      // only (applying current.sql here means resetting it first, as npm run dev does on each save).
      ...(hasCurrentMigration()
        ? ['  current.sql has changes not committed yet: generated/ includes them, this database does not (its tables are missing in psql);',
           '              npm run dev applies it here (and again on each save), npm run gm -- commit makes it a committed migration']
        : []),
    ].join('\n'),
  );
});

async function appliedMigrations(server: Parameters<typeof connect>[0], database: string): Promise<string[]> {
  const client = await connect(server, database);
  try {
    const { rows } = await client.query<{ filename: string }>(
      `SELECT filename FROM graphile_migrate.migrations ORDER BY filename`,
    );
    return rows.map((row) => row.filename);
  } catch {
    return []; // graphile-migrate has not created its schema yet: nothing applied
  } finally {
    await client.end();
  }
}

async function countRelations(server: Parameters<typeof connect>[0], database: string) {
  const client = await connect(server, database);
  try {
    const { rows } = await client.query<{ tables: number; views: number }>(
      `SELECT count(*) FILTER (WHERE relkind IN ('r', 'p') AND NOT relispartition)::int AS tables,
              count(*) FILTER (WHERE relkind = 'v')::int AS views
         FROM pg_class WHERE relnamespace = 'public'::regnamespace`,
    );
    return rows[0]!;
  } finally {
    await client.end();
  }
}

async function provisionLogins(server: Parameters<typeof connect>[0], database: string): Promise<string[]> {
  const client = await connect(server, database);
  try {
    await ensureEnvironmentLogins(client, embeddedLayout().home);
    return (Object.keys(LOGIN_ROLES) as LoginName[]).map((name) => loginRole(name));
  } finally {
    await client.end();
  }
}
