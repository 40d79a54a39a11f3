/**
 * A real PgBouncer in transaction-pooling mode in front of the test server, as production
 * trading systems run it: each transaction may get another server connection, so nothing may
 * depend on session state between transactions. Debian's `pgbouncer` package (`.ci/run`
 * installs it); where it is absent, `startPgBouncer` returns the reason and the suite skips.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as connectSocket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerTarget } from '../../src/server/connection-string.js';

export interface PgBouncer {
  server: ServerTarget;
  /** PgBouncer's log so far, to show when a test fails. */
  log(): string;
  /** Whether the PgBouncer process is still running. */
  running(): boolean;
  stop(): Promise<void>;
}

/**
 * The PgBouncer settings precog-db is tested with, as README's Deploying section gives them (in
 * seconds; PgBouncer takes fractions). PgBouncer's defaults keep a caller waiting or refused
 * for 15 to 120 s after the server behind it dies; these give an answer, and trading again,
 * within about a second of the server's return (test/pgbouncer/server-killed.test.ts measures it).
 */
export const PGBOUNCER_SETTINGS = {
  // After a failed login PgBouncer refuses new statements at once ("server login has been
  // failing", nothing executed) and tries the server again only after this: default 15 s.
  server_login_retry: '0.2',
  // A statement queued for a server (the server is down) is refused after this, before it
  // reached any server: default 120 s. Keep it well under the client's deadline (deadlineMs,
  // default 15 s), so that the pooler's exact answer comes first.
  query_wait_timeout: '5',
  // Connecting and logging in to the server: a host that does not answer (a network partition)
  // counts as a failed login after this, not after the default 15 s.
  server_connect_timeout: '3',
  // A client's own login waits for a server only before PgBouncer's first server login.
  client_login_timeout: '5',
} as const;

export function pgbouncerBinary(): string | undefined {
  for (const candidate of ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer']) if (existsSync(candidate)) return candidate;
  try {
    return execFileSync('sh', ['-c', 'command -v pgbouncer'], { stdio: 'pipe' }).toString().trim() || undefined;
  } catch {
    return undefined;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectSocket(port, '127.0.0.1');
    socket.once('connect', () => (socket.end(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Starts PgBouncer (transaction pooling) in front of `upstream`; returns why not when it cannot. */
export async function startPgBouncer(upstream: ServerTarget, poolSize = 4, settings: Record<string, string> = PGBOUNCER_SETTINGS): Promise<PgBouncer | string> {
  const binary = pgbouncerBinary();
  if (!binary) return 'pgbouncer is not installed (Debian: apt-get install -y pgbouncer)';
  const home = mkdtempSync(join(tmpdir(), 'precog-pgbouncer-'));
  chmodSync(home, 0o755);
  const asRoot = process.getuid?.() === 0;
  const port = await freePort();
  const quote = (text: string) => `"${text.replace(/"/g, '""')}"`;
  writeFileSync(join(home, 'users.txt'), `${quote(upstream.user)} ${quote(upstream.password ?? '')}\n`, { mode: 0o644 });
  writeFileSync(
    join(home, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${upstream.host} port=${upstream.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      // Clients are trusted here (loopback, a test); PgBouncer logs in to the server with the password.
      'auth_type = trust',
      `auth_file = ${join(home, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 200',
      'server_reset_query =',
      'ignore_startup_parameters = extra_float_digits,options',
      ...Object.entries(settings).map(([name, value]) => `${name} = ${value}`),
      `logfile = ${join(home, 'pgbouncer.log')}`,
      `pidfile = ${join(home, 'pgbouncer.pid')}`,
    ].join('\n') + '\n',
    { mode: 0o644 },
  );
  // PgBouncer refuses to run as root; -u switches to the postgres account (like the server), which
  // must be able to write its log and pid file.
  if (asRoot) execFileSync('chown', ['-R', 'postgres', home]);
  const args = asRoot ? ['-u', 'postgres', join(home, 'pgbouncer.ini')] : [join(home, 'pgbouncer.ini')];
  const child: ChildProcess = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += String(chunk)));
  for (let i = 0; i < 100 && !(await accepting(port)); i++) {
    if (child.exitCode !== null) return `pgbouncer exited with ${child.exitCode}: ${stderr.trim()}`;
    await sleep(50);
  }
  if (!(await accepting(port))) return `pgbouncer did not listen on ${port}: ${stderr.trim()}`;
  return {
    server: { ...upstream, port },
    log: () => (existsSync(join(home, 'pgbouncer.log')) ? readFileSync(join(home, 'pgbouncer.log'), 'utf8') : '') + stderr,
    running: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      child.kill('SIGTERM');
      for (let i = 0; i < 40 && child.exitCode === null; i++) await sleep(50);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(home, { recursive: true, force: true });
    },
  };
}
