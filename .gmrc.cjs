/*
 * graphile-migrate settings for precog-db.
 *
 * `npx graphile-migrate status|watch|commit|...` works directly in the project: the connection
 * strings are computed here, the way every precog-db command computes them: DATABASE_URL when set
 * (shadow: <database>_shadow on the same server), otherwise the embedded PostgreSQL, started if it
 * is not running (src/cli/gm-connections.ts; it also creates the database and its shadow).
 * `npm run gm -- <command>` is the same CLI with the same connections.
 *
 * precog-db's own commands (npm start, npm run dev, codegen, tests) read the rest of this file
 * through src/migrations/settings.ts and pass the connections themselves; they do not run the
 * afterCurrent hook (they regenerate the types in-process).
 */
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

let connections;
/** Resolved once per process, and only when graphile-migrate asks for a connection string. */
function resolveConnections() {
  const { DATABASE_URL, SHADOW_DATABASE_URL, ROOT_DATABASE_URL } = process.env;
  if (!connections && DATABASE_URL && SHADOW_DATABASE_URL && ROOT_DATABASE_URL) {
    // All three given (npm run gm sets them): nothing to resolve.
    connections = { connectionString: DATABASE_URL, shadowConnectionString: SHADOW_DATABASE_URL, rootConnectionString: ROOT_DATABASE_URL };
  }
  if (!connections) {
    const output = execFileSync(process.execPath, ['--import', 'tsx', join(__dirname, 'src/cli/gm-connections.ts')], {
      cwd: __dirname,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    connections = JSON.parse(output);
  }
  return connections;
}

const settings = {
  // Committed migrations live in migrations/committed, the one being written in migrations/current.sql.
  migrationsFolder: './migrations',

  // graphile-migrate keeps its bookkeeping (applied migrations, hashes) in its own schema.
  manageGraphileMigrateSchema: true,

  // Every migration runs with this search_path, so objects land in `public` whoever runs it.
  pgSettings: {
    search_path: 'public',
  },

  // `graphile-migrate watch`: regenerate generated/ after each change of current.sql is applied,
  // so the types never lag the schema (npm run dev does the same in one process, faster).
  afterCurrent: [{ _: 'command', command: 'node --import tsx src/cli/codegen.ts' }],

  // What `graphile-migrate commit` leaves in current.sql after committing it.
  blankMigrationContent: '-- Write the next migration here; `npm run dev` applies it on save.\n',
};

for (const key of ['connectionString', 'shadowConnectionString', 'rootConnectionString', 'databaseOwner']) {
  Object.defineProperty(settings, key, { enumerable: true, get: () => resolveConnections()[key] });
}

module.exports = settings;
