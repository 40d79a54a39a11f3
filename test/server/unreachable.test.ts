/** An unreachable server: the error names host, port and database, never the password, and exits 1. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('npm start names host, port and database of an unreachable DATABASE_URL, without its password', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/start.ts'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, DATABASE_URL: 'postgres://trader:s3cret-pw@127.0.0.1:9/precog_prod' },
  });
  expect(result.status).toBe(1);
  expect(result.stderr).toContain('127.0.0.1:9/precog_prod');
  expect(result.stderr).toContain('(DATABASE_URL)');
  expect(result.stdout + result.stderr).not.toContain('s3cret-pw');
});

it('names the variable, not its value, when DATABASE_URL is not a URL', () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/start.ts'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, DATABASE_URL: 'mysql://trader:s3cret-pw@db/precog' },
  });
  expect(result.status).toBe(1);
  expect(result.stderr).toContain('DATABASE_URL must start with postgres://');
  expect(result.stdout + result.stderr).not.toContain('s3cret-pw');
});

it('a pool that never connected reports that it could not connect, and to where', async () => {
  const { default: pg } = await import('pg');
  const { ConnectionFailedError, precogDb } = await import('precog-db');
  const pool = new pg.Pool({ host: '127.0.0.1', port: 9, user: 'app', password: 's3cret-pw', database: 'precog', connectionTimeoutMillis: 2000 });
  try {
    const error = await precogDb(pool)
      .scope('paper', { api: 'demo' })
      .listOpenPositions()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect((error as InstanceType<typeof ConnectionFailedError>).reason).toBe('refused');
    expect((error as Error).message).toMatch(/could not connect to .*127\.0\.0\.1:9/);
    expect((error as Error).message).not.toMatch(/lost its connection|s3cret-pw/);
  } finally {
    await pool.end();
  }
});
