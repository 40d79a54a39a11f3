/**
 * The development loop as people use it, on a copy of the project: a migration written the
 * natural (not idempotent) way saved twice and then committed, save → types times, and the loop
 * stopped by kill -TERM / -INT of npm (its databases dropped) or left behind by SIGKILL (cleaned
 * up by the next start).
 */
import { writeFileSync, readFileSync, readdirSync, appendFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/project.js';
import { projectCopy, Running, type ProjectCopy } from '../support/project-copy.js';

let copy: ProjectCopy;
beforeAll(() => {
  copy = projectCopy();
});
afterAll(async () => {
  await copy?.remove();
});

const READY = /Watching .*\(codegen database (precog_dev_codegen_(\d+))\)/;
const REBUILT = /\] (schema migrated and types regenerated|types regenerated) in (\d+) ms/;

it('applies a non-idempotent current.sql on every save, commits it, and stops on kill -TERM of npm', async () => {
  const loop = Running.npm(['run', 'dev'], copy);
  const [, codegenDatabase] = await loop.until(READY);
  let mark = loop.output.length;
  await loop.until(REBUILT, mark - 200);

  const times: string[] = [];
  const save = async (sql: string, file = join(copy.dir, 'migrations', 'current.sql')) => {
    await new Promise((resolve) => setTimeout(resolve, 3000)); // a developer reads the last result first
    mark = loop.output.length;
    const started = Date.now();
    writeFileSync(file, sql);
    const match = await loop.until(REBUILT, mark);
    const wall = Date.now() - started;
    times.push(`${match[1]}: ${match[2]} ms (save to log line ${wall} ms)`);
    expect(loop.output.slice(mark)).not.toMatch(/already exists|rror/);
  };
  await save('ALTER TABLE markets ADD COLUMN note text;\n');
  await save('ALTER TABLE markets ADD COLUMN note text;\nALTER TABLE markets ADD COLUMN note_author text;\n');
  await save('-- markets get notes\nALTER TABLE markets ADD COLUMN note text;\nALTER TABLE markets ADD COLUMN note_author text;\n');
  const queries = join(copy.dir, 'sql', 'markets.sql');
  await save(readFileSync(queries, 'utf8') + '\n', queries);
  console.log(`dev loop save → types on this machine:\n  ${times.join('\n  ')}`);
  expect(readFileSync(join(copy.dir, 'generated', 'schema.sql'), 'utf8')).toMatch(/note_author text/);

  process.kill(loop.child.pid!, 'SIGTERM');
  expect(await loop.exited).not.toBeNull();
  expect(loop.output).toMatch(/SIGTERM: stopping/);
  const left = await copy.databases();
  expect(left.filter((name) => name.startsWith(codegenDatabase!))).toEqual([]);

  // The natural migration commits: the dev database (which has it applied) is reset first.
  const commit = spawnSync('npm', ['run', 'gm', '--', 'commit', '-m', 'markets get notes'], { cwd: copy.dir, env: copy.env, encoding: 'utf8' });
  expect(commit.stdout + commit.stderr).not.toMatch(/already exists/);
  expect(commit.status).toBe(0);
  // The next number after the project's own latest migration.
  const next = String(readdirSync(join(PROJECT_ROOT, 'migrations', 'committed')).filter((f) => f.endsWith('.sql')).length + 1).padStart(6, '0');
  expect(readdirSync(join(copy.dir, 'migrations', 'committed')).at(-1)).toMatch(new RegExp(`^${next}`));
  const status = spawnSync('npx', ['graphile-migrate', 'status'], { cwd: copy.dir, env: copy.env, encoding: 'utf8' });
  expect(status.status).toBe(0);
}, 240_000);

it('cleans up after a loop killed with SIGKILL at the next start, and stops on kill -INT', async () => {
  const first = Running.npm(['run', 'dev'], copy);
  const [, killedDatabase, pid] = await first.until(READY);
  await first.until(REBUILT);
  process.kill(Number(pid), 'SIGKILL'); // the node process itself: no handler runs
  await first.exited;
  expect(await copy.databases()).toContain(killedDatabase);

  const second = Running.npm(['run', 'dev'], copy);
  const [, codegenDatabase] = await second.until(READY);
  await second.until(REBUILT);
  expect((await copy.databases()).filter((name) => name.startsWith(killedDatabase!))).toEqual([]);

  process.kill(second.child.pid!, 'SIGINT');
  await second.exited;
  expect(second.output).toMatch(/SIGINT: stopping/);
  expect((await copy.databases()).filter((name) => name.startsWith(codegenDatabase!))).toEqual([]);
}, 240_000);

it('graphile-migrate watch regenerates the types after applying current.sql (afterCurrent)', () => {
  appendFileSync(join(copy.dir, 'migrations', 'current.sql'), 'ALTER TABLE markets ADD COLUMN IF NOT EXISTS watched text;\n');
  const watch = spawnSync('npx', ['graphile-migrate', 'watch', '--once'], { cwd: copy.dir, env: copy.env, encoding: 'utf8' });
  expect(watch.status).toBe(0);
  expect(watch.stdout + watch.stderr).toMatch(/Generated \d+ queries/);
  expect(readFileSync(join(copy.dir, 'generated', 'schema.sql'), 'utf8')).toMatch(/watched text/);
}, 120_000);
