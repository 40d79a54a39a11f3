/**
 * Backtests on the deployed logins (README, Deploying): the backtest login makes runs and writes
 * them through run scopes, the analyst login compares them (it reads every run), and the
 * comparison queries are classed as cross-environment, offered on db.crossEnvironment only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { expect, it } from 'vitest';
import { compareBacktestRuns, compareBacktestRunWithPaper } from '../../generated/backtests.js';
import { precogDb } from '../../src/scope/precog-db.js';
import { ensureEnvironmentLogins, type LoginName } from '../../src/server/environment-logins.js';
import { testServer, withFreshDatabase } from '../support/db.js';
import { testLogins } from '../support/test-logins.js';
import { strategyAndModel } from '../queries/fixtures.js';
import { closedPosition, d, trade } from './support.js';

const { suffix, loginRole } = testLogins();

it('classes the comparisons as cross-environment, each naming the environments its rows may have', () => {
  expect(compareBacktestRuns.environment).toBe('cross');
  expect(compareBacktestRuns.crossEnvironment?.environments).toEqual(['backtest']);
  expect(compareBacktestRunWithPaper.environment).toBe('cross');
  expect(compareBacktestRunWithPaper.crossEnvironment?.environments).toEqual(['paper', 'backtest']);
  const db = precogDb({ query: () => Promise.reject(new Error('not reached')) } as never);
  expect('compareBacktestRuns' in db.scope('paper', { api: 'demo' })).toBe(false);
});

it('the backtest login writes runs through their scopes; the analyst login compares every run and paper', async () => {
  const home = mkdtempSync(join(tmpdir(), 'precog-backtest-logins-'));
  await withFreshDatabase(async (database, owner) => {
    const client = await owner.connect();
    const passwords = await ensureEnvironmentLogins(client, home, suffix).finally(() => client.release());
    const { strategyId } = await strategyAndModel(owner);
    const { host, port } = testServer();
    const login = (name: LoginName) => new pg.Pool({ host, port, database, user: loginRole(name), password: passwords[name], max: 2 });
    const pools = { backtest: login('backtest'), paper: login('paper'), analyst: login('analyst') };
    try {
      const db = precogDb(pools);
      const period = { period_start: new Date('2025-01-01T00:00:00Z'), period_end: new Date('2025-02-01T00:00:00Z') };
      const a = await db.backtests.create({ strategy_id: strategyId, ...period, label: 'A' });
      const b = await db.backtests.create({ strategy_id: strategyId, ...period, label: 'B' });
      await closedPosition(db.scope('backtest', { api: 'none', run: a }), strategyId, '0.40', '0.60', new Date('2025-01-02T00:00:00Z'));
      await trade(db.scope('backtest', { api: 'none', run: b }), strategyId, '0.03', new Date('2025-01-02T00:00:00Z'));
      await closedPosition(db.scope('paper', { api: 'demo' }), strategyId, '0.40', '0.50', new Date('2025-01-03T00:00:00Z'));

      // The backtest login alone sees one run at a time; the analyst sees both, side by side.
      const { rows: [seen] } = await pools.backtest.query<{ n: string }>('SELECT count(*) AS n FROM positions');
      expect(seen!.n).toBe('0'); // no run set for this transaction: no rows ([backtest-run])
      const rows = await db.crossEnvironment.compareBacktestRuns({ strategy_id: strategyId });
      expect(rows.map((row) => [row.label, row.trade_count, row.realized_pnl.toFixed(2)])).toEqual([['B', 1n, '0.00'], ['A', 0n, '1.80']]);
      const sides = await db.crossEnvironment.compareBacktestRunWithPaper({ run_id: a.id });
      expect(sides.map((row) => [row.execution_environment, row.realized_pnl.toFixed(2)])).toEqual([['paper', '0.80'], ['backtest', '1.80']]);
      expect(sides[1]!.realized_pnl.equals(d('1.8'))).toBe(true);

      // Deleting a run is not the backtest login's (Hardening II): precog_backtest_admin's, or the owner's.
      await expect(db.backtests.delete(b)).rejects.toMatchObject({ rule: 'permission-denied' });
      const client = await owner.connect();
      try {
        await client.query('BEGIN');
        await client.query('SET LOCAL ROLE precog_backtest_admin');
        await client.query('DELETE FROM backtest_runs WHERE id = $1', [b.id]);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      expect((await db.crossEnvironment.compareBacktestRuns({ strategy_id: strategyId })).map((row) => row.label)).toEqual(['A']);
    } finally {
      await Promise.all(Object.values(pools).map((pool) => pool.end()));
      rmSync(home, { recursive: true, force: true });
    }
  });
});
