/** `npm run -s db:url` prints the connection string of the server in use, and nothing else. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { connect } from '../../src/server/resolve.js';
import { parseConnectionString } from '../../src/server/connection-string.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function dbUrl(env: NodeJS.ProcessEnv): { stdout: string; stderr: string; status: number | null } {
  return spawnSync('npm', ['run', '-s', 'db:url'], { cwd: ROOT, env, encoding: 'utf8' });
}

it('prints DATABASE_URL as it is when set', () => {
  const url = 'postgres://app:s%40cret@db.example:6543/precog';
  const result = dbUrl({ ...process.env, DATABASE_URL: url });
  expect(result.stderr).toBe('');
  expect(result.stdout).toBe(`${url}\n`);
});

it('prints the embedded server with its user and password, usable as DATABASE_URL or by psql', { timeout: 60_000 }, async () => {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const result = dbUrl(env);
  expect(result.status).toBe(0);
  expect(result.stdout).toMatch(/^postgres:\/\/postgres:[^@\s]+@127\.0\.0\.1:\d+\/precog\n$/);
  const { server, database } = parseConnectionString(result.stdout.trim(), 'npm run db:url');
  const client = await connect(server, database);
  try {
    expect((await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db).toBe('precog');
  } finally {
    await client.end();
  }
});
