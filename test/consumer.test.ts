/** An application outside the package imports precog-db by name (exports map) and compiles. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('compiles a consumer package that imports precog-db and precog-db/queries by name', { timeout: 60_000 }, () => {
  const consumer = fileURLToPath(new URL('./consumer/', import.meta.url));
  const link = `${consumer}node_modules/precog-db`;
  mkdirSync(`${consumer}node_modules`, { recursive: true });
  rmSync(link, { force: true, recursive: true });
  symlinkSync(fileURLToPath(new URL('../', import.meta.url)), link, 'dir');
  // 'precog-db' resolves through "exports" to dist/: build it from the current sources first.
  const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: fileURLToPath(new URL('../', import.meta.url)), encoding: 'utf8' });
  expect(build.stdout + build.stderr).toBe('');
  const tsc = spawnSync(process.execPath, [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-p', consumer], {
    encoding: 'utf8',
  });
  expect(tsc.stdout + tsc.stderr).toBe('');
  expect(tsc.status).toBe(0);
});
