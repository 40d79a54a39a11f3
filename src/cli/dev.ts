/**
 * `npm run dev`: the whole development loop in one process.
 *
 * - Saving migrations/current.sql runs it on the dev database (graphile-migrate's current-
 *   migration runner, as `graphile-migrate watch` does) and then regenerates every query's
 *   types against a fresh database built from the migrations, since a schema change can
 *   change any query's types.
 * - Saving a file in sql/ regenerates the types (the fresh database is reused: no schema change).
 *
 * We watch the files ourselves rather than run `graphile-migrate watch`, so that one queue
 * orders "migrate, then regenerate" and nothing regenerates against a half-applied schema.
 */
import { watch as watchFiles } from 'node:fs';
import { migrate, watch as runCurrentMigration } from 'graphile-migrate';
import { codegen } from '../codegen/codegen.js';
import { SQL_DIR } from '../codegen/load-queries.js';
import { dropDatabase, freshDatabase } from '../migrations/fresh-database.js';
import { verboseLogger } from '../migrations/logger.js';
import { MIGRATIONS_DIR, COMMITTED_DIR, migrateSettings } from '../migrations/settings.js';
import { describeDatabase, redact } from '../server/connection-string.js';
import { ensureDatabase, resolveTarget } from '../server/resolve.js';

// Per process: two dev loops (or a benchmark beside one) on one server must not share it.
const CODEGEN_DATABASE = `precog_dev_codegen_${process.pid}`;

const { server, database } = await resolveTarget().catch(exitWith);
await ensureDatabase(server, database).catch(exitWith);
const settings = { ...migrateSettings(server, database), logger: verboseLogger };

let schemaDirty = true;
let queriesDirty = true;
let running = false;

async function drain(): Promise<void> {
  if (running) return;
  running = true;
  try {
    while (schemaDirty || queriesDirty) {
      const schema = schemaDirty;
      schemaDirty = queriesDirty = false;
      await rebuild(schema);
    }
  } finally {
    running = false;
  }
}

async function rebuild(schema: boolean): Promise<void> {
  const started = Date.now();
  try {
    if (schema) {
      await migrate(settings);
      await runCurrentMigration(settings, true);
      await freshDatabase(server, CODEGEN_DATABASE, { includeCurrent: true });
    }
    const result = await codegen(server, { database: CODEGEN_DATABASE, reuseDatabase: true });
    const what = schema ? 'schema migrated and types regenerated' : 'types regenerated';
    const changed = result.changed.length ? `changed: ${result.changed.map((f) => `generated/${f}`).join(', ')}` : 'no type changed';
    console.log(`[${time()}] ${what} in ${Date.now() - started} ms (${changed})`);
  } catch (error) {
    console.error(`[${time()}] ${redact((error as Error).message)}\n(generated/ left as it was; fix and save again)`);
  }
}

function schedule(kind: 'schema' | 'queries'): void {
  if (kind === 'schema') schemaDirty = true;
  else queriesDirty = true;
  void drain();
}

function exitWith(error: Error): never {
  console.error(redact(error.message));
  process.exit(1);
}

const time = () => new Date().toTimeString().slice(0, 8);

watchFiles(MIGRATIONS_DIR, (_event, file) => file === 'current.sql' && schedule('schema'));
watchFiles(COMMITTED_DIR, () => schedule('schema'));
watchFiles(SQL_DIR, (_event, file) => file?.endsWith('.sql') && schedule('queries'));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void dropDatabase(server, CODEGEN_DATABASE).finally(() => process.exit(0));
  });
}

console.log(
  `precog-db dev on ${describeDatabase(server, database)} (${server.origin}).\n` +
    'Watching migrations/current.sql and sql/*.sql; Ctrl-C to stop.',
);
await drain();
