/**
 * `precogDb({ live, paper, ... })`, one connection per environment through its own login: each
 * scope runs only on its environment's connection, analytics on the analyst's, shared writes on
 * the ingester's; a process given only the paper connection has no live scope at all.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ConfigurationError, Decimal, precogDb, type PrecogDb } from '../../src/index.js';
import { ensureEnvironmentLogins, type LoginName } from '../../src/server/environment-logins.js';
import { testServer, withFreshDatabase } from '../support/db.js';
import { testLogins } from '../support/test-logins.js';

const { suffix: SUFFIX, loginRole } = testLogins();

async function withLoginPools(body: (pools: Record<LoginName, pg.Pool>) => Promise<void>) {
  const home = mkdtempSync(join(tmpdir(), 'precog-logins-'));
  await withFreshDatabase(async (database, owner) => {
    const client = await owner.connect();
    const passwords = await ensureEnvironmentLogins(client, home, SUFFIX).finally(() => client.release());
    const { host, port } = testServer();
    const pools = Object.fromEntries(
      (Object.keys(passwords) as LoginName[]).map((name) => [name, new pg.Pool({ host, port, database, user: loginRole(name), password: passwords[name], max: 2 })]),
    ) as Record<LoginName, pg.Pool>;
    try {
      await body(pools);
    } finally {
      await Promise.all(Object.values(pools).map((pool) => pool.end()));
      rmSync(home, { recursive: true, force: true });
    }
  });
}

const position = { market_id: 'MKT-LOGINS-1', side: 'YES', entry_price: new Decimal('0.40'), quantity: 3, fees: new Decimal('0.01') } as const;

describe('precogDb with a connection per environment', () => {
  it('runs each scope on its own login, analytics on the analyst, shared writes on the ingester', async () => {
    await withLoginPools(async (pools) => {
      const db = precogDb({ live: pools.live, paper: pools.paper, analyst: pools.analyst, ingest: pools.ingest });
      const paper = db.scope('paper', { api: 'demo' });
      const live = db.scope('live', { api: 'live' });
      const opened = await paper.openPosition(position);
      await live.openPosition(position);
      expect((await paper.listOpenPositions()).map((p) => p.id)).toContain(opened.id);
      expect((await live.listOpenPositions()).every((p) => p.execution_environment === 'live')).toBe(true);
      const [who] = (await pools.paper.query<{ who: string }>('SELECT current_user AS who')).rows;
      expect(who!.who).toBe(loginRole('paper'));
      const performance = await db.crossEnvironment.comparePaperAndLivePerformance({ from: new Date(0), to: new Date() });
      expect(Array.isArray(performance)).toBe(true);
      const market = await db.shared.createMarket({
        ticker: 'LOGINS-1', platform_id: 'kalshi', title: 'Logins', market_type: 'binary', yes_price: new Decimal('0.5'), no_price: new Decimal('0.5'),
      });
      expect(market.ticker).toBe('LOGINS-1');
    });
  });

  it('has no scope, analytics or shared queries for a connection it was not given', async () => {
    await withLoginPools(async (pools) => {
      // The types already refuse these (test/typings/connections.test-d.ts); untyped code meets the run-time refusal.
      const db = precogDb({ paper: pools.paper }) as unknown as PrecogDb;
      expect(() => db.scope('live', { api: 'live' })).toThrow(ConfigurationError);
      expect(() => db.scope('live', { api: 'live' })).toThrow(/a live scope needs a live connection: precogDb\(\{ live: pool/);
      await expect(db.crossEnvironment.comparePaperAndLivePerformance({ from: new Date(0), to: new Date() })).rejects.toThrow(/cross-environment analytics needs an analyst connection/);
      // Shared reads fall back to the paper login, which reads the shared tables but cannot write them.
      await expect(
        db.shared.createMarket({ ticker: 'LOGINS-2', platform_id: 'kalshi', title: 'x', market_type: 'binary', yes_price: new Decimal('0.5'), no_price: new Decimal('0.5') }),
      ).rejects.toMatchObject({ code: '42501' });
      expect(() => precogDb({ papr: pools.paper } as never)).toThrow(/unknown keys papr/);
    });
  });
});
