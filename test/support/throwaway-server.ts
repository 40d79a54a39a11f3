/**
 * A PostgreSQL server of its own, for tests that stop and restart the server: the shared
 * embedded server is used by every other test (and developer) and must never be stopped.
 *
 * Built with the same code as the embedded server (src/server/embedded.ts), pointed at a
 * throwaway data folder in the system temp dir through PRECOG_DATA_DIR. When root, the server
 * runs as the `postgres` account, like the embedded one.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerTarget } from '../../src/server/connection-string.js';
import { binaries, embeddedLayout, ensureEmbeddedServer } from '../../src/server/embedded.js';

export interface ThrowawayServer {
  server: ServerTarget;
  /** `pg_ctl stop -m immediate`: every backend is killed, nothing is flushed; a crash, as far as clients can tell. */
  crash(): void;
  /**
   * SIGKILL to the postmaster and every one of its processes (the OOM killer, a container
   * killed): nothing is flushed or told; clients see their sockets reset. Returns once they are gone.
   */
  kill(): Promise<void>;
  /**
   * `pg_ctl stop -m <mode> -W`: asks the server to shut down and returns at once. `smart` refuses
   * new connections (57P03 "shutting down") until the last session ends; `fast` terminates every
   * session (57P01) and stops.
   */
  beginStop(mode: 'smart' | 'fast'): void;
  /** Whether the postmaster has exited (its postmaster.pid is gone). */
  stopped(): boolean;
  /** Starts it again on the same port (crash recovery replays the WAL). */
  restart(): Promise<ServerTarget>;
  /** Stops it and deletes its data folder. */
  destroy(): void;
}

async function withDataDir<T>(home: string, body: () => Promise<T>): Promise<T> {
  const previous = process.env.PRECOG_DATA_DIR;
  process.env.PRECOG_DATA_DIR = home;
  try {
    return await body();
  } finally {
    if (previous === undefined) delete process.env.PRECOG_DATA_DIR;
    else process.env.PRECOG_DATA_DIR = previous;
  }
}

function account(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { stdio: 'pipe' }).toString());
  return { uid: id('-u'), gid: id('-g') };
}

export async function startThrowawayServer(): Promise<ThrowawayServer> {
  const home = mkdtempSync(join(tmpdir(), 'precog-throwaway-'));
  chmodSync(home, 0o755); // the postgres account must reach pgdata/ inside it
  const layout = await withDataDir(home, async () => embeddedLayout());
  // The same binaries the embedded server runs: as root, a copy the postgres account can execute.
  const { pg_ctl } = await binaries();
  const stop = (mode: 'immediate' | 'fast') => {
    try {
      execFileSync(pg_ctl, ['stop', '-D', layout.pgdata, '-m', mode, '-w', '-t', '30'], { ...account(), stdio: 'pipe' });
    } catch (error) {
      // Only "no server running" is fine; anything else (say, pg_ctl not executable) means the
      // crash a test relies on did not happen, and must not pass unnoticed.
      const output = String((error as { stderr?: unknown }).stderr ?? '');
      if (!/is (the )?server running|does not exist/i.test(output)) throw error;
    }
  };
  const server = await withDataDir(home, ensureEmbeddedServer);
  return {
    server: { ...server, origin: `throwaway server in ${home}` },
    crash: () => stop('immediate'),
    beginStop: (mode) => {
      execFileSync(pg_ctl, ['stop', '-D', layout.pgdata, '-m', mode, '-W'], { ...account(), stdio: 'pipe' });
    },
    stopped: () => !existsSync(join(layout.pgdata, 'postmaster.pid')),
    kill: async () => {
      const pidFile = join(layout.pgdata, 'postmaster.pid');
      if (!existsSync(pidFile)) return;
      const postmaster = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      let listed = '';
      try {
        listed = execFileSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)], { stdio: 'pipe' }).toString();
      } catch {
        // ps exits 1 when there are none
      }
      const children = listed
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
      const pids = [postmaster, ...children];
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      const alive = (pid: number) => {
        try {
          process.kill(pid, 0);
          return !/^\S+ \(\S+\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
        } catch {
          return false;
        }
      };
      for (let i = 0; i < 200 && pids.some(alive); i++) await sleep(25);
    },
    restart: () => withDataDir(home, ensureEmbeddedServer),
    destroy: () => {
      stop('immediate');
      rmSync(home, { recursive: true, force: true });
    },
  };
}
