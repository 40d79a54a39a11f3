/**
 * The embedded server: started on demand, reused, and robust to a stale pid file or a busy
 * port. Each test uses a data folder of its own (PRECOG_DATA_DIR), never the shared server.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { embeddedLayout, ensureEmbeddedServer, stopEmbeddedServer } from '../../src/server/embedded.js';
import { connect } from '../../src/server/resolve.js';

const homes: string[] = [];

async function inDataDir<T>(home: string, body: () => Promise<T>): Promise<T> {
  const previous = process.env.PRECOG_DATA_DIR;
  process.env.PRECOG_DATA_DIR = home;
  try {
    return await body();
  } finally {
    if (previous === undefined) delete process.env.PRECOG_DATA_DIR;
    else process.env.PRECOG_DATA_DIR = previous;
  }
}

function newHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'precog-embedded-test-'));
  chmodSync(home, 0o755); // as root, the postgres account must reach it
  homes.push(home);
  return home;
}

afterEach(async () => {
  for (const home of homes.splice(0)) {
    await inDataDir(home, () => stopEmbeddedServer()).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  }
});

async function answers(server: Awaited<ReturnType<typeof ensureEmbeddedServer>>): Promise<boolean> {
  const client = await connect(server, 'postgres');
  await client.end();
  return true;
}

describe('embedded server', () => {
  it('starts on first use and is reused by the next command, concurrent ones included', { timeout: 60_000 }, async () => {
    const home = newHome();
    const [first, second] = await inDataDir(home, () => Promise.all([ensureEmbeddedServer(), ensureEmbeddedServer()]));
    expect(second.port).toBe(first.port);
    const third = await inDataDir(home, ensureEmbeddedServer);
    expect(third.port).toBe(first.port);
    expect(await answers(third)).toBe(true);
  });

  it('recovers from a stale pid file left by a crash', { timeout: 60_000 }, async () => {
    const home = newHome();
    const started = await inDataDir(home, ensureEmbeddedServer);
    await inDataDir(home, () => stopEmbeddedServer());
    const { pgdata } = await inDataDir(home, async () => embeddedLayout());
    // A pid that cannot be a live postmaster, as after a crash or a reboot.
    writeFileSync(join(pgdata, 'postmaster.pid'), `999999\n${pgdata}\n0\n${started.port}\n\n127.0.0.1\n`);
    const restarted = await inDataDir(home, ensureEmbeddedServer);
    expect(await answers(restarted)).toBe(true);
  });

  it('moves to a free port when its port was taken meanwhile', { timeout: 60_000 }, async () => {
    const home = newHome();
    const started = await inDataDir(home, ensureEmbeddedServer);
    await inDataDir(home, () => stopEmbeddedServer());
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(started.port, '127.0.0.1', resolve));
    try {
      const moved = await inDataDir(home, ensureEmbeddedServer);
      expect(moved.port).not.toBe(started.port);
      expect(Number(readFileSync(join(home, 'port'), 'utf8'))).toBe(moved.port);
      expect(await answers(moved)).toBe(true);
    } finally {
      squatter.close();
    }
  });

  it('stops a server whose folder was deleted while it ran, at the next start or at db:stop', { timeout: 60_000 }, async () => {
    for (const next of ['start', 'stop'] as const) {
      const home = newHome();
      const started = await inDataDir(home, ensureEmbeddedServer);
      rmSync(home, { recursive: true, force: true }); // rm -rf .precog with the server running
      if (next === 'start') {
        const rebuilt = await inDataDir(home, ensureEmbeddedServer);
        expect(rebuilt.password).not.toBe(started.password);
        expect(await answers(rebuilt)).toBe(true);
      } else {
        expect(await inDataDir(home, () => stopEmbeddedServer())).toBe(true);
      }
      await expect(connect(started, 'postgres')).rejects.toThrow(/Cannot connect/);
    }
  });
});
