/** Scopes against the real server: each sees only its environment, and foreign rows are refused. */
import type { QueryConfig } from 'pg';
import { describe, expect, it } from 'vitest';
import { ConfigurationError, Decimal, EnvironmentMismatchError, precogDb, type Queryable } from 'precog-db';
import { allQueries } from '../../generated/index.js';
import { backtestRun } from '../support/backtest-run.js';
import { withRollback } from '../support/db.js';

const position = (market: string) => ({
  market_id: market,
  side: 'YES' as const,
  entry_price: new Decimal('0.40'),
  quantity: 10,
  fees: new Decimal('0.07'),
});

describe('scopes', () => {
  it('see only their own environment', async () => {
    await withRollback(async (client) => {
      const db = precogDb(client);
      const run = await backtestRun(client);
      const live = db.scope('live', { api: 'live' });
      const paper = db.scope('paper', { api: 'demo' });
      const backtest = db.scope('backtest', { api: 'none', run: run.id });
      await live.openPosition(position('MKT-A'));
      await paper.openPosition(position('MKT-B'));
      await paper.openPosition(position('MKT-C'));
      await backtest.openPosition(position('MKT-D'));

      const markets = async (rows: Promise<readonly { market_id: string; execution_environment: string }[]>) =>
        (await rows).map((row) => `${row.execution_environment}:${row.market_id}`).sort();
      expect(await markets(live.listOpenPositions())).toEqual(['live:MKT-A']);
      expect(await markets(paper.listOpenPositions())).toEqual(['paper:MKT-B', 'paper:MKT-C']);
      expect(await markets(backtest.listOpenPositions())).toEqual(['backtest:MKT-D']);
    });
  });

  it("a run scope inside the caller's transaction takes its role and run for its own calls only", async () => {
    await withRollback(async (client) => {
      const session = async () => (await client.query(`SELECT current_user AS who, coalesce(current_setting('precog.backtest_run', true), '') AS run`)).rows[0];
      const before = await session();
      const run = await backtestRun(client);
      const backtest = precogDb(client).scope('backtest', { api: 'none', run: run.id });
      const opened = await backtest.openPosition(position('MKT-RUN-SCOPE'));
      expect(opened!.execution_environment).toBe('backtest');
      // SET LOCAL outlives a released savepoint: the scope puts the caller's role and run back itself.
      expect(await session()).toEqual(before);
      await backtest.transaction(async (tx) => {
        await tx.updatePositionPrice({ position_key: opened!.position_key, current_price: new Decimal('0.45') });
      });
      expect(await session()).toEqual(before);
      const { rows } = await client.query(`SELECT backtest_run_id::text AS run FROM positions WHERE position_key = $1`, [opened!.position_key]);
      expect(rows).toEqual([{ run: String(run.id) }, { run: String(run.id) }]);
    });
  });

  it('replays Precog bug #662: a paper position updated ten times is still paper, and never live', async () => {
    await withRollback(async (client) => {
      const db = precogDb(client);
      const paper = db.scope('paper', { api: 'demo' });
      const live = db.scope('live', { api: 'live' });
      const opened = await paper.openPosition(position('MKT-PAPER'));
      for (let tick = 1; tick <= 10; tick++) {
        const updated = await paper.updatePositionPrice({
          position_key: opened!.position_key,
          current_price: new Decimal(`0.${40 + tick}`),
        });
        expect(updated!.execution_environment).toBe('paper');
      }
      const history = await paper.listPositionHistory({ position_key: opened!.position_key });
      expect(history).toHaveLength(11);
      expect(new Set(history.map((row) => row.execution_environment))).toEqual(new Set(['paper']));
      // Precog bug #691: the live open-positions read never returns paper positions.
      expect(await live.listOpenPositions()).toEqual([]);
    });
  });

  it('refuses a foreign row handed back by the database, naming query and environments', async () => {
    await withRollback(async (client) => {
      await precogDb(client).scope('paper', { api: 'demo' }).openPosition(position('MKT-FOREIGN'));
      // A connection that swaps the bound environment: the real server returns paper rows to a live scope.
      const swapping: Queryable = {
        query: (config: QueryConfig) =>
          client.query({ ...config, values: config.values?.map((value) => (value === 'live' ? 'paper' : value)) }),
      };
      const live = precogDb(swapping).scope('live', { api: 'live' });
      const error = await live.listOpenPositions().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EnvironmentMismatchError);
      expect((error as Error).message).toMatch(/listOpenPositions returned a row of environment "paper" where only live is allowed/);
    });
  });

  it('offers each query where codegen classed it: scoped on scopes, shared on db.shared and scopes, cross on db.crossEnvironment', () => {
    const db = precogDb({ query: () => Promise.reject(new Error('not run')) });
    const scope = db.scope('paper', { api: 'demo' });
    const where = (name: string) =>
      [name in scope && 'scope', name in db.shared && 'shared', name in db.crossEnvironment && 'cross'].filter(Boolean).join('+');
    const expected = { scoped: 'scope', shared: 'scope+shared', cross: 'cross' };
    for (const query of Object.values(allQueries)) expect(`${query.name}: ${where(query.name)}`).toBe(`${query.name}: ${expected[query.environment]}`);
    expect(new Set(Object.values(allQueries).map((query) => query.environment))).toEqual(new Set(['scoped', 'shared', 'cross']));
  });

  it('refuses the environment passed by a caller that bypasses the types', async () => {
    await withRollback(async (client) => {
      const paper = precogDb(client).scope('paper', { api: 'demo' });
      const sneaky = { ...position('MKT-X'), execution_environment: 'live' } as never;
      await expect(paper.openPosition(sneaky)).rejects.toThrow(/the scope binds execution_environment \(paper\); do not pass it/);
    });
  });

  it('runs several queries in one transaction, still scoped, and rolls back on error', async () => {
    await withRollback(async (client) => {
      const paper = precogDb(client).scope('paper', { api: 'demo' });
      const opened = await paper.transaction(async (tx) => {
        const row = await tx.openPosition(position('MKT-TX'));
        await tx.updatePositionPrice({ position_key: row!.position_key, current_price: new Decimal('0.45') });
        return row!;
      });
      expect(await paper.listPositionHistory({ position_key: opened.position_key })).toHaveLength(2);

      await expect(
        paper.transaction(async (tx) => {
          await tx.updatePositionPrice({ position_key: opened.position_key, current_price: new Decimal('0.50') });
          throw new Error('strategy changed its mind');
        }),
      ).rejects.toThrow('strategy changed its mind');
      expect(await paper.listPositionHistory({ position_key: opened.position_key })).toHaveLength(2);
    });
  });
});

describe('ADR-107 guardrail: the API must match the environment', () => {
  const db = precogDb({ query: () => Promise.reject(new Error('not used')) });
  it.each([
    ['live', 'demo'],
    ['live', 'none'],
    ['paper', 'live'],
    ['paper', 'none'],
    ['backtest', 'live'],
    ['backtest', 'demo'],
  ])('refuses a %s scope with api %s', (environment, api) => {
    expect(() => db.scope(environment as 'live', { api: api as 'live' })).toThrow(ConfigurationError);
  });

  it.each(['Live', 'demo', '', 'unknown'])('refuses the environment %j, listing the allowed ones', (environment) => {
    expect(() => db.scope(environment as 'live', { api: 'live' })).toThrow(/use one of live, paper, backtest/);
  });

  it.each([
    ['live', 'live'],
    ['paper', 'demo'],
  ])('accepts a %s scope with api %s', (environment, api) => {
    expect(db.scope(environment as 'live', { api: api as 'live' }).environment).toBe(environment);
  });

  it('accepts a backtest scope with api none, for a run', () => {
    // A run id comes only from db.backtests; this scope never reaches the database.
    expect(db.scope('backtest', { api: 'none', run: 1n as never }).environment).toBe('backtest');
  });

  it('refuses a backtest scope without a run, and a live scope with one', () => {
    expect(() => db.scope('backtest', { api: 'none' } as never)).toThrow(/scope\('backtest'\) needs the run its rows belong to/);
    expect(() => db.scope('live', { api: 'live', run: 1 } as never)).toThrow(/only a backtest scope has a run/);
  });
});

describe('environment roles (defense in depth)', () => {
  it('lets row-level security refuse what a wrong query would return', async () => {
    await withRollback(async (client) => {
      await precogDb(client).scope('live', { api: 'live' }).openPosition(position('MKT-LIVE-ONLY'));
      // The same swap as above, but the paper scope runs as precog_paper: the database hides live rows.
      const swapping: Queryable = {
        query: (config: QueryConfig) =>
          client.query({ ...config, values: config.values?.map((value) => (value === 'paper' ? 'live' : value)) }),
      };
      const paper = precogDb(swapping, { environmentRoles: true }).scope('paper', { api: 'demo' });
      expect(await paper.listOpenPositions()).toEqual([]);
    });
  });

  it('still does everything a scope does, as the environment role', async () => {
    await withRollback(async (client) => {
      const paper = precogDb(client, { environmentRoles: true }).scope('paper', { api: 'demo' });
      const opened = await paper.openPosition(position('MKT-ROLE'));
      await paper.updatePositionPrice({ position_key: opened!.position_key, current_price: new Decimal('0.5') });
      const [open] = await paper.listOpenPositions();
      expect(open!.current_price!.toFixed(2)).toBe('0.50');
    });
  });
});
