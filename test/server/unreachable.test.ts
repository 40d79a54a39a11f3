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
