/**
 * 5. The developer loop, measured from outside as a developer lives it:
 *
 * - `npm run dev` as a child process on a scratch dev database (DATABASE_URL pointing at the
 *   same server), then: touch a query file in sql/ (only its mtime: the loop watches with
 *   fs.watch, and other developers work in this repo) → the next "types regenerated" line;
 *   touch migrations/current.sql → the next "schema migrated and types regenerated" line.
 * - Cold `npm run codegen` with an empty data folder (PRECOG_DATA_DIR: initdb, start a new
 *   embedded server, migrate, generate), stopped and removed afterwards.
 * - Wall time of `npm test`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, createWriteStream, mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectionString, type ServerTarget } from '../src/server/connection-string.js';
import { PROJECT_ROOT } from '../src/project.js';
import { inferTypes } from '../src/codegen/infer.js';
import { loadSqlFiles } from '../src/codegen/load-queries.js';
import { dropDatabase, freshDatabase } from '../src/migrations/fresh-database.js';
import { log, median, now, scratchName, type Flags } from './support.js';

const QUERY_FILE = join(PROJECT_ROOT, 'sql', 'trades.sql');
const CURRENT_MIGRATION = join(PROJECT_ROOT, 'migrations', 'current.sql');
const TYPES_LINE = /\] types regenerated in (\d+) ms/;
const SCHEMA_LINE = /\] schema migrated and types regenerated in (\d+) ms/;

/** Lines of a child's stdout, with a way to wait for the next one matching a pattern. */
class LineWatcher {
  private lines: { at: number; text: string }[] = [];
  private waiters: { pattern: RegExp; after: number; resolve: (line: { at: number; text: string }) => void }[] = [];
  lastLineAt = 0;

  constructor(child: ChildProcess, transcript: NodeJS.WritableStream) {
    let buffer = '';
    const onData = (chunk: Buffer) => {
      const at = now();
      transcript.write(chunk);
      buffer += chunk.toString();
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const text = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        this.lines.push({ at, text });
        this.lastLineAt = at;
        for (const waiter of [...this.waiters]) {
          if (at >= waiter.after && waiter.pattern.test(text)) {
            this.waiters.splice(this.waiters.indexOf(waiter), 1);
            waiter.resolve({ at, text });
          }
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => {
      transcript.write(chunk);
      this.lastLineAt = now();
    });
  }

  next(pattern: RegExp, after: number, timeoutMs: number): Promise<{ at: number; text: string }> {
    const seen = this.lines.find((line) => line.at >= after && pattern.test(line.text));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ pattern, after, resolve: (line) => (clearTimeout(timer), resolve(line)) });
    });
  }

  /** Waits until the child has printed nothing for `quietMs` (a save can fire fs.watch twice). */
  async quiet(quietMs: number): Promise<void> {
    while (now() - this.lastLineAt < quietMs) await new Promise((r) => setTimeout(r, 50));
  }
}

function touch(file: string): number {
  const at = now();
  const time = new Date();
  utimesSync(file, time, time);
  return at;
}

/** Stops the process group we started (the npm → tsx → node chain), and only that. */
function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
      resolve();
    }, 5_000);
    child.once('exit', () => (clearTimeout(timer), resolve()));
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}

export async function measureDevLoop(server: ServerTarget, flags: Flags) {
  const repetitions = flags.quick ? 2 : 5;
  const database = scratchName('dev');
  const resultsDir = join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const transcript = createWriteStream(join(resultsDir, 'dev-loop.log'));
  const startedAt = now();
  const child = spawn('npm', ['run', 'dev'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, DATABASE_URL: connectionString(server, database) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so that stopping it stops npm, tsx and node
  });
  const lines = new LineWatcher(child, transcript);
  const querySave: number[] = [];
  const schemaSave: number[] = [];
  const reported: { query: number[]; schema: number[] } = { query: [], schema: [] };
  let firstRebuild: number | undefined;
  try {
    await lines.next(/regenerated in \d+ ms/, 0, 120_000);
    firstRebuild = now() - startedAt;
    log(`dev: npm run dev ready (first rebuild) after ${(firstRebuild / 1000).toFixed(1)} s`);
    for (let i = 0; i < repetitions; i++) {
      await lines.quiet(700);
      const at = touch(QUERY_FILE);
      const line = await lines.next(TYPES_LINE, at, 30_000);
      querySave.push(line.at - at);
      reported.query.push(Number(TYPES_LINE.exec(line.text)![1]));
      log(`dev: sql/trades.sql saved → types written in ${Math.round(line.at - at)} ms`);
    }
    for (let i = 0; i < repetitions; i++) {
      await lines.quiet(700);
      const at = touch(CURRENT_MIGRATION);
      const line = await lines.next(SCHEMA_LINE, at, 60_000);
      schemaSave.push(line.at - at);
      reported.schema.push(Number(SCHEMA_LINE.exec(line.text)![1]));
      log(`dev: current.sql saved → migrated and regenerated in ${Math.round(line.at - at)} ms`);
    }
  } finally {
    await stopGroup(child);
    transcript.end();
    await dropDatabase(server, database).catch(() => undefined);
    await dropDatabase(server, `${database}_shadow`).catch(() => undefined);
  }
  const cold = coldCodegen();
  const breakdown = await codegenBreakdown(server, flags);
  return {
    repetitions,
    firstRebuild_ms: firstRebuild === undefined ? undefined : Math.round(firstRebuild),
    querySaveToTypes: { median_ms: Math.round(median(querySave)), samples_ms: querySave.map(Math.round), reportedByDev_ms: reported.query, goal: '<= 1000 ms' },
    currentSqlSaveToMigratedAndTypes: {
      median_ms: Math.round(median(schemaSave)),
      samples_ms: schemaSave.map(Math.round),
      reportedByDev_ms: reported.schema,
      goal: '<= 2000 ms',
    },
    coldCodegen: cold,
    codegenBreakdown: breakdown,
  };
}

/**
 * Where a regeneration's time goes, in process: reading and parsing sql/, and pgtyped's type
 * inference (per query: prepare, describe, catalog look-ups) for every query or for one file's.
 */
async function codegenBreakdown(server: ServerTarget, flags: Flags) {
  const database = scratchName('codegen');
  const repetitions = flags.quick ? 1 : 5;
  await freshDatabase(server, database);
  try {
    const load: number[] = [];
    const inferAll: number[] = [];
    const inferOne: number[] = [];
    let queries = 0;
    let oneFileQueries = 0;
    for (let i = 0; i < repetitions; i++) {
      let started = now();
      const { files } = loadSqlFiles();
      load.push(now() - started);
      queries = files.reduce((n, file) => n + file.queries.length, 0);
      started = now();
      await inferTypes(server, database, files);
      inferAll.push(now() - started);
      const one = files.filter((file) => file.path.endsWith('trades.sql'));
      oneFileQueries = one.reduce((n, file) => n + file.queries.length, 0);
      started = now();
      await inferTypes(server, database, one);
      inferOne.push(now() - started);
    }
    return {
      queries,
      loadAndParseSql_ms: Math.round(median(load)),
      inferAllQueries_ms: Math.round(median(inferAll)),
      inferPerQuery_ms: Math.round((median(inferAll) / queries) * 10) / 10,
      inferTradesSqlOnly_ms: Math.round(median(inferOne)),
      tradesSqlQueries: oneFileQueries,
    };
  } finally {
    await dropDatabase(server, database).catch(() => undefined);
  }
}

/** `npm run codegen` against an embedded server in an empty data folder, then stop and remove it. */
function coldCodegen() {
  const dataDir = mkdtempSync(join(tmpdir(), 'precog-bench-cold-'));
  chmodSync(dataDir, 0o755); // as root, the server runs as `postgres`, which must reach the folder
  const env: NodeJS.ProcessEnv = { ...process.env, PRECOG_DATA_DIR: dataDir };
  delete env.DATABASE_URL;
  try {
    log(`dev: cold npm run codegen with an empty PRECOG_DATA_DIR (${dataDir})`);
    const started = now();
    const result = spawnSync('npm', ['run', 'codegen'], { cwd: PROJECT_ROOT, env, encoding: 'utf8', timeout: 180_000 });
    const wall = now() - started;
    const summary = (result.stdout ?? '').split('\n').find((line) => line.startsWith('Generated')) ?? '';
    log(`dev: cold codegen took ${(wall / 1000).toFixed(1)} s (exit ${result.status}): ${summary}`);
    return {
      wall_ms: Math.round(wall),
      exitCode: result.status,
      output: summary || (result.stderr ?? '').slice(-500),
      goal: '<= 5000 ms',
    };
  } finally {
    spawnSync('npx', ['tsx', 'src/cli/db-stop.ts'], { cwd: PROJECT_ROOT, env, encoding: 'utf8', timeout: 60_000 });
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Wall time of `npm test` (its output goes to bench/results/npm-test.log). */
export async function measureNpmTest() {
  const logFile = join(PROJECT_ROOT, 'bench', 'results', 'npm-test.log');
  mkdirSync(join(PROJECT_ROOT, 'bench', 'results'), { recursive: true });
  log('tests: npm test (output in bench/results/npm-test.log)');
  const started = now();
  const env: NodeJS.ProcessEnv = { ...process.env };
  const result = spawnSync('npm', ['test'], { cwd: PROJECT_ROOT, env, encoding: 'utf8', timeout: 900_000, maxBuffer: 64 * 2 ** 20 });
  const wall = now() - started;
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  createWriteStream(logFile).end(output);
  const plain = output.replace(/\u001b\[[0-9;]*m/g, '');
  const tests = /Tests\s+(.+)/.exec(plain)?.[1]?.trim();
  const files = /Test Files\s+(.+)/.exec(plain)?.[1]?.trim();
  log(`tests: npm test took ${(wall / 1000).toFixed(1)} s (exit ${result.status}; ${tests ?? '?'})`);
  return { wall_ms: Math.round(wall), exitCode: result.status, testFiles: files, tests };
}
