/**
 * The embedded server runs the major PRECOG_EMBEDDED_MAJOR names (npm run test:major), from the
 * binaries npm ci installed for it, and refuses clearly a data folder of another major or a major
 * precog-db does not support. Each test uses a data folder of its own, never the shared server.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ensureEmbeddedServer, stopEmbeddedServer } from '../../src/server/embedded.js';
import { SUPPORTED_MAJORS } from '../../src/server/majors.js';
import { connect } from '../../src/server/resolve.js';

const homes: string[] = [];

async function withSettings<T>(settings: { home: string; major?: string }, body: () => Promise<T>): Promise<T> {
  const previous = { home: process.env.PRECOG_DATA_DIR, major: process.env.PRECOG_EMBEDDED_MAJOR };
  const set = (name: string, value: string | undefined) => (value === undefined ? delete process.env[name] : (process.env[name] = value));
  set('PRECOG_DATA_DIR', settings.home);
  set('PRECOG_EMBEDDED_MAJOR', settings.major);
  try {
    return await body();
  } finally {
    set('PRECOG_DATA_DIR', previous.home);
    set('PRECOG_EMBEDDED_MAJOR', previous.major);
  }
}

function newHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'precog-majors-test-'));
  chmodSync(home, 0o755); // as root, the postgres account must reach it
  homes.push(home);
  return home;
}

afterEach(async () => {
  for (const home of homes.splice(0)) {
    await withSettings({ home, major: process.env.PRECOG_EMBEDDED_MAJOR }, () => stopEmbeddedServer()).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  }
});

it('runs the major PRECOG_EMBEDDED_MAJOR names, and refuses its data folder to another major', { timeout: 120_000 }, async () => {
  const home = newHome();
  // Another major than the one this suite runs on, so that both are exercised.
  const running = Number(process.env.PRECOG_EMBEDDED_MAJOR || 0);
  const major = SUPPORTED_MAJORS.find((m) => m !== running && m !== 17) ?? 16;
  const server = await withSettings({ home, major: String(major) }, ensureEmbeddedServer);
  const client = await connect(server, 'postgres');
  try {
    const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
    expect(Math.floor(Number(rows[0]!.v) / 10000)).toBe(major);
  } finally {
    await client.end();
  }
  const other = SUPPORTED_MAJORS.find((m) => m !== major)!;
  await expect(withSettings({ home, major: String(other) }, ensureEmbeddedServer)).rejects.toThrow(
    `The embedded data folder ${join(home, 'pgdata')} is PostgreSQL ${major}'s, and this runs PostgreSQL ${other}. Delete ${home}`,
  );
  await withSettings({ home, major: String(major) }, () => stopEmbeddedServer());
});

it('refuses a major precog-db does not support, naming the supported ones', async () => {
  await expect(withSettings({ home: newHome(), major: '14' }, ensureEmbeddedServer)).rejects.toThrow(
    `PRECOG_EMBEDDED_MAJOR=14 is not a supported PostgreSQL major (${SUPPORTED_MAJORS.join(', ')}).`,
  );
});
