/**
 * `npm run bench`: the figures of issue 7, on the embedded server (or DATABASE_URL), in
 * scratch databases built with freshDatabase() and dropped afterwards. Prints a table and
 * writes the JSON to bench/results/latest.json. See BENCHMARKS.md.
 *
 *   npm run bench                  default sizes (a few minutes)
 *   npm run bench -- --quick       small sizes, a smoke run
 *   npm run bench -- --with-5m     also 5 million backtest trades (measurement 3)
 *   npm run bench -- --no-tests    skip timing `npm test`;  --no-dev: skip the dev loop
 *   npm run bench -- --only=overhead,bulk,runs,scale,isolation,dev,tests
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { connect, resolveTarget } from '../src/server/resolve.js';
import { measureBulk } from './bulk.js';
import { measureDevLoop, measureNpmTest } from './devloop.js';
import { measureIsolation } from './isolation.js';
import { measureOverhead } from './overhead.js';
import { gatherGoals, type Goal, printGoals, printTable, rows } from './report.js';
import { measureRuns } from './runs.js';
import { measureScale } from './scale.js';
import { log, now, parseFlags, ScratchDatabases } from './support.js';

const flags = parseFlags(process.argv.slice(2));
const started = now();
const wants = (section: string) => !flags.only || flags.only.has(section);

const { server } = await resolveTarget();
const admin = await connect(server, 'postgres');
const serverVersion = (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
const settings = Object.fromEntries(
  (
    await admin.query<{ name: string; setting: string; unit: string | null }>(
      `SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'maintenance_work_mem', 'synchronous_commit', 'fsync', 'max_wal_size')`,
    )
  ).rows.map((row) => [row.name, row.unit ? `${row.setting} × ${row.unit}` : row.setting]),
);
await admin.end();

const results: Record<string, unknown> = {
  meta: {
    startedAt: new Date().toISOString(),
    flags: { quick: flags.quick, with5m: flags.with5m, withTests: flags.withTests, withDev: flags.withDev, only: flags.only ? [...flags.only] : 'all' },
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      freeMemoryGiB: Math.round(freemem() / 2 ** 30),
      nproc: safe(() => execFileSync('nproc', { encoding: 'utf8' }).trim()),
    },
    node: process.version,
    postgres: serverVersion,
    postgresSettings: settings,
    server: server.origin,
  },
};

/**
 * Every goal of every section, by name (`backtest_load_vs_pk_only_copy`, `overhead_vs_raw_strings.getTradeById`, ...): a section that
 * returns `goals: { name: { ratio or value, threshold, met, ... } }` has them gathered here too.
 */
const goals: Record<string, Goal> = {};
results.goals = goals;

const databases = new ScratchDatabases(server);

let failed = false;
async function section(name: string, body: () => Promise<unknown>) {
  if (!wants(name)) return;
  const sectionStarted = now();
  try {
    const result = await body();
    results[name] = result;
    gatherGoals(goals, result);
  } catch (error) {
    failed = true;
    console.error(`[bench] ${name} failed:`, error);
    results[name] = { error: error instanceof Error ? error.message : String(error) };
  }
  log(`${name} done in ${((now() - sectionStarted) / 1000).toFixed(1)} s`);
}

const cleanup = () => databases.dropAll();
process.once('SIGINT', () => {
  void cleanup().finally(() => process.exit(130));
});

try {
  await section('overhead', async () => measureOverhead(server, await databases.fresh('overhead'), flags));
  await section('bulk', async () => measureBulk(server, await databases.fresh('bulk'), flags));
  await section('runs', async () => measureRuns(server, await databases.fresh('runs'), flags));
  await section('scale', async () => measureScale(server, await databases.fresh('scale'), flags, resolve(flags.out)));
  await section('isolation', async () => measureIsolation(server, databases, flags));
  if (flags.withDev) await section('dev', async () => measureDevLoop(server, flags));
  if (flags.withTests) await section('tests', async () => measureNpmTest());
} finally {
  await cleanup();
}

(results.meta as Record<string, unknown>).durationS = Math.round((now() - started) / 100) / 10;
const table = rows(results);
results.table = table;
const out = resolve(flags.out);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
printTable(table);
printGoals(goals);
log(`wrote ${out}; npm run bench took ${((now() - started) / 1000).toFixed(0)} s`);
process.exit(failed ? 1 : 0);

function safe<T>(body: () => T): T | undefined {
  try {
    return body();
  } catch {
    return undefined;
  }
}
