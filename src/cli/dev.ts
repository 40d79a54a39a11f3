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
import { dropDatabase, dropSpares, freshDatabase, hasCurrentMigration, migratedTemplate, refillSpare, resetFromSpare } from '../migrations/fresh-database.js';
import { currentAppliedTo } from '../migrations/current-state.js';
import { quietLogger, verboseLogger } from '../migrations/logger.js';
import { MIGRATIONS_DIR, COMMITTED_DIR, migrateSettings } from '../migrations/settings.js';
import { describeDatabase, redact } from '../server/connection-string.js';
import { connect, ensureDatabase, resolveTarget } from '../server/resolve.js';

// Per process: two dev loops (or a benchmark beside one) on one server must not share it.
const CODEGEN_PREFIX = 'precog_dev_codegen_';
const CODEGEN_DATABASE = `${CODEGEN_PREFIX}${process.pid}`;

const { server, database } = await resolveTarget().catch(exitWith);
await ensureDatabase(server, database).catch(exitWith);
await dropLeftoverCodegenDatabases().catch(exitWith);
const settings = { ...migrateSettings(server, database), logger: verboseLogger };
const codegenSettings = { ...migrateSettings(server, CODEGEN_DATABASE), logger: quietLogger };

let schemaDirty = true;
let spares: Promise<void> = Promise.resolve();

/** Copies of the committed migrations' template, renamed into place by the next save. */
async function refillSpares(): Promise<void> {
  try {
    const template = await migratedTemplate(server);
    await refillSpare(server, template, database);
    await refillSpare(server, template, CODEGEN_DATABASE);
  } catch (error) {
    console.error(`[${time()}] preparing the next reset failed (the next save clones instead): ${redact((error as Error).message)}`);
  }
}
let queriesDirty = true;
let running = false;
let stopping = false;

let inFlight: Promise<void> = Promise.resolve();
function drain(): Promise<void> {
  if (running) return inFlight;
  return (inFlight = drainQueue());
}

async function drainQueue(): Promise<void> {
  running = true;
  try {
    while ((schemaDirty || queriesDirty) && !stopping) {
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
  const lap = (what: string) => process.env.PRECOG_DEBUG && console.log(`  ${what} at ${Date.now() - started} ms`);
  try {
    if (schema) {
      await spares;
      if (hasCurrentMigration() || (await currentAppliedTo(server, database))) {
        // current.sql need not be idempotent: the dev database goes back to the committed
        // migrations (a spare copy of their template, renamed into place) before current.sql is
        // applied again. The codegen database is the same copy plus current.sql.
        const template = await migratedTemplate(server);
        await resetFromSpare(server, template, database);
        await resetFromSpare(server, template, CODEGEN_DATABASE);
        lap('dev and codegen databases reset');
        await Promise.all([runCurrentMigration(settings, true), runCurrentMigration(codegenSettings, true)]);
        lap('current.sql applied');
      } else {
        await migrate(settings); // nothing being written: keep the dev database's data
        await freshDatabase(server, CODEGEN_DATABASE, { includeCurrent: true });
      }
    }
    const result = await codegen(server, { database: CODEGEN_DATABASE, reuseDatabase: true });
    lap('types generated');
    const what = schema ? 'schema migrated and types regenerated' : 'types regenerated';
    const changed = result.changed.length ? `changed: ${result.changed.map((f) => `generated/${f}`).join(', ')}` : 'no type changed';
    console.log(`[${time()}] ${what} in ${Date.now() - started} ms (${changed})`);
  } catch (error) {
    console.error(`[${time()}] ${redact((error as Error).message)}\n(generated/ left as it was; fix and save again)`);
  } finally {
    if (schema && !stopping) spares = refillSpares(); // for the next save, while the developer reads this one
  }
}

let debounce: NodeJS.Timeout | undefined;
function schedule(kind: 'schema' | 'queries'): void {
  if (kind === 'schema') schemaDirty = true;
  else queriesDirty = true;
  // One save is several file events (truncate, write, rename): one rebuild for all of them.
  clearTimeout(debounce);
  debounce = setTimeout(() => void drain(), 25);
}

function exitWith(error: Error): never {
  console.error(redact(error.message));
  process.exit(1);
}

const time = () => new Date().toTimeString().slice(0, 8);

watchFiles(MIGRATIONS_DIR, (_event, file) => file === 'current.sql' && schedule('schema'));
watchFiles(COMMITTED_DIR, () => schedule('schema'));
watchFiles(SQL_DIR, (_event, file) => file?.endsWith('.sql') && schedule('queries'));

function stop(why: string): void {
  if (stopping) return;
  stopping = true;
  console.log(`[${time()}] ${why}: stopping, dropping ${CODEGEN_DATABASE}`);
  // A rebuild under way finishes first (generated/ is written whole or not at all), for 15 s at most.
  const finished = Promise.race([inFlight, new Promise<void>((resolve) => setTimeout(resolve, 15_000).unref())]);
  void finished
    .then(() => spares)
    .then(() => dropDatabase(server, CODEGEN_DATABASE))
    .then(() => Promise.all([dropSpares(server, CODEGEN_DATABASE), dropSpares(server, database)]))
    .catch(() => undefined)
    .finally(() => process.exit(0));
}
// npm runs the script as `exec tsx ...` (package.json), so kill -INT/-TERM/-HUP of npm reaches
// tsx, which relays it here.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => stop(signal));
// If whatever started us goes away without a signal (kill -KILL of npm or tsx), stop too.
const parent = process.ppid;
setInterval(() => process.ppid !== parent && stop('parent process gone'), 500).unref();

/** Codegen databases of dev loops that died without cleaning up (SIGKILL, a crash). */
async function dropLeftoverCodegenDatabases(): Promise<void> {
  const admin = await connect(server, 'postgres');
  let leftovers: string[];
  try {
    // Named after a process that is gone, and nobody connected (a loop of another machine would be).
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database d
        WHERE datname LIKE $1 AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)`,
      [`${CODEGEN_PREFIX}%`],
    );
    leftovers = rows.map((row) => row.datname).filter((name) => !isAlive(Number.parseInt(name.slice(CODEGEN_PREFIX.length), 10)));
  } finally {
    await admin.end();
  }
  for (const name of leftovers) await dropDatabase(server, name);
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return pid === process.pid;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

console.log(
  `precog-db dev on ${describeDatabase(server, database)} (${server.origin}).\n` +
    `Watching migrations/current.sql and sql/*.sql (codegen database ${CODEGEN_DATABASE}); Ctrl-C to stop.\n` +
    'current.sql need not be idempotent: each save first resets the dev database to the committed migrations (its data too).',
);
await drain();
