/**
 * `npm run test:other-major`: the whole suite on a second PostgreSQL major, beside the embedded
 * one. It starts Debian's server binaries of another major (/usr/lib/postgresql/<major>/bin, e.g.
 * the postgresql-15 package) in a throwaway data folder, runs `vitest run` against it through
 * TEST_DATABASE_URL, and stops it. Without such binaries it says so and exits 0, or 1 under
 * PRECOG_REQUIRE_OTHER_MAJOR=1 (CI).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SNAPSHOT_MAJOR } from '../../src/check/generated-drift.js';

const root = '/usr/lib/postgresql';
const majors = existsSync(root) ? readdirSync(root).map(Number).filter((major) => major && major !== SNAPSHOT_MAJOR && existsSync(join(root, String(major), 'bin', 'pg_ctl'))) : [];
if (!majors.length) {
  console.log(`test:other-major: no PostgreSQL server binaries other than ${SNAPSHOT_MAJOR} under ${root} (Debian: apt-get install -y postgresql-15).`);
  process.exit(process.env.PRECOG_REQUIRE_OTHER_MAJOR === '1' ? 1 : 0);
}
const major = Math.min(...majors);
const bin = (name: string) => join(root, String(major), 'bin', name);
const asRoot = process.getuid?.() === 0;
const run = (command: string, args: string[]) =>
  execFileSync(asRoot ? 'runuser' : command, asRoot ? ['-u', 'postgres', '--', command, ...args] : args, { stdio: 'pipe' });

const home = mkdtempSync(join(tmpdir(), `precog-pg${major}-`));
chmodSync(home, 0o755);
const password = randomBytes(12).toString('hex');
writeFileSync(join(home, 'password'), password, { mode: 0o644 });
if (asRoot) execFileSync('chown', ['-R', 'postgres', home]);
const port = await new Promise<number>((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port } = probe.address() as { port: number };
    probe.close(() => resolve(port));
  });
});
const data = join(home, 'data');
let status = 1;
try {
  run(bin('initdb'), ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${join(home, 'password')}`]);
  run(bin('pg_ctl'), ['-D', data, '-w', '-l', join(home, 'log'), '-o', `-p ${port} -k ${home} -c listen_addresses=127.0.0.1`, 'start']);
  console.log(`test:other-major: PostgreSQL ${major} on 127.0.0.1:${port}`);
  const result = spawnSync('npx', ['vitest', 'run', ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, TEST_DATABASE_URL: `postgres://postgres:${password}@127.0.0.1:${port}/precog_other_major` },
  });
  status = result.status ?? 1;
} finally {
  try {
    run(bin('pg_ctl'), ['-D', data, '-m', 'fast', 'stop']);
  } catch {
    // already stopped
  }
  rmSync(home, { recursive: true, force: true });
}
process.exit(status);
