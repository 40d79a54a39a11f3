/**
 * A copy of the project in a temp folder (node_modules linked), for tests that run the
 * development loop and graphile-migrate, which write migrations/ and generated/: the worktree
 * is never touched. Its database is a fresh one on the test server, through DATABASE_URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connectionString } from '../../src/server/connection-string.js';
import { testServer } from './db.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COPIED = ['src', 'sql', 'db', 'migrations', 'generated', 'docs', 'package.json', 'tsconfig.json', '.gmrc.cjs'];

export interface ProjectCopy {
  dir: string;
  database: string;
  env: NodeJS.ProcessEnv;
  admin: () => pg.Client;
  databases: () => Promise<string[]>;
  remove: () => Promise<void>;
}

export function projectCopy(): ProjectCopy {
  const dir = mkdtempSync(join(tmpdir(), 'precog-copy-'));
  for (const entry of COPIED) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const database = `precog_copy_${randomBytes(4).toString('hex')}`;
  const server = testServer();
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: connectionString(server, database) };
  delete env.PRECOG_DEBUG;
  const admin = () => new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database: 'postgres' });
  const databases = async () => {
    const client = admin();
    await client.connect();
    try {
      return (await client.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1')).rows.map((row) => row.datname);
    } finally {
      await client.end();
    }
  };
  return {
    dir,
    database,
    env,
    admin,
    databases,
    remove: async () => {
      const client = admin();
      await client.connect();
      try {
        for (const name of await databases()) {
          if (name.startsWith(database)) await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
        }
      } finally {
        await client.end();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A running command whose output is collected; `until` waits for a line matching a pattern. */
export class Running {
  output = '';
  readonly exited: Promise<number | null>;
  private waiters: (() => void)[] = [];
  constructor(readonly child: ChildProcess) {
    const collect = (chunk: Buffer) => {
      this.output += chunk.toString();
      for (const waiter of this.waiters) waiter();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static npm(args: string[], copy: ProjectCopy): Running {
    return new Running(spawn('npm', args, { cwd: copy.dir, env: copy.env, stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  /** Resolves with the match of `pattern` found after character `from` of the output. */
  until(pattern: RegExp, from = 0, timeoutMs = 60_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output:\n${this.output}`)), timeoutMs);
      const check = () => {
        const match = this.output.slice(from).match(pattern);
        if (match) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((waiter) => waiter !== check);
          resolve(match);
        }
      };
      this.waiters.push(check);
      check();
    });
  }
}
