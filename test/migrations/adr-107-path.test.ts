/** The migrations replay ADR-107's history: pre-ADR rows become live, each view is one environment. */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, status } from 'graphile-migrate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quietLogger } from '../../src/migrations/logger.js';
import { COMMITTED_DIR, migrateSettings } from '../../src/migrations/settings.js';
import { ensureDatabase } from '../../src/server/resolve.js';
import { dropDatabase } from '../../src/migrations/fresh-database.js';
import { backtestRun } from '../support/backtest-run.js';
import { poolFor, testServer, withRollback } from '../support/db.js';

const committed = readdirSync(COMMITTED_DIR).sort();
const adr107 = committed.findIndex((file) => file.includes('execution-environments'));

/** Migrates `database` with only the first `count` committed migrations visible. */
async function migrateUpTo(database: string, count: number, folder: string) {
  mkdirSync(join(folder, 'committed'), { recursive: true });
  for (const file of committed.slice(0, count)) copyFileSync(join(COMMITTED_DIR, file), join(folder, 'committed', file));
  await migrate({ ...migrateSettings(testServer(), database), migrationsFolder: folder, logger: quietLogger });
}

describe('migration path', () => {
  const database = `precog_test_path_${process.pid}`;
  const folder = mkdtempSync(join(tmpdir(), 'precog-migrations-'));

  beforeAll(async () => {
    await dropDatabase(testServer(), database);
    await ensureDatabase(testServer(), database);
  });
  afterAll(async () => {
    await dropDatabase(testServer(), database);
    rmSync(folder, { recursive: true, force: true });
  });

  it('turns trades and positions that existed before ADR-107 into live ones', async () => {
    expect(adr107).toBeGreaterThan(0);
    await migrateUpTo(database, adr107, folder);
    const pool = poolFor(database);
    try {
      await pool.query(`INSERT INTO trades (market_id, side, price, quantity, trade_source, order_type)
                        VALUES ('MKT-PRE-ADR', 'buy', 0.42, 3, 'manual', 'limit')`);
      await pool.query(`INSERT INTO positions (position_key, market_id, side, entry_price, quantity, status)
                        VALUES ('POS-1', 'MKT-PRE-ADR', 'YES', 0.42, 3, 'open')`);
      await migrateUpTo(database, committed.length, folder);
      const trades = await pool.query('SELECT execution_environment FROM trades');
      const positions = await pool.query('SELECT execution_environment FROM positions');
      expect(trades.rows).toEqual([{ execution_environment: 'live' }]);
      expect(positions.rows).toEqual([{ execution_environment: 'live' }]);
    } finally {
      await pool.end();
    }
  });

  it('leaves graphile-migrate with nothing left to apply', async () => {
    const result = await status({ ...migrateSettings(testServer(), database), migrationsFolder: folder, logger: quietLogger });
    expect(result.remainingMigrations).toEqual([]);
  });
});

describe('ADR-107 views', () => {
  const views = {
    live_trades: ['live'],
    paper_trades: ['paper'],
    backtest_trades: ['backtest'],
    training_data_trades: ['paper', 'backtest'],
    live_positions: ['live'],
    paper_positions: ['paper'],
    backtest_positions: ['backtest'],
  } as const;

  it.each(Object.entries(views))('%s returns exactly %j', async (view, environments) => {
    await withRollback(async (client) => {
      const run = await backtestRun(client);
      for (const [index, environment] of ['live', 'paper', 'backtest'].entries()) {
        const runId = environment === 'backtest' ? run.id : null;
        const { rows } = await client.query<{ id: number }>(
          `INSERT INTO positions (position_key, market_id, side, entry_price, quantity, status, execution_environment, backtest_run_id)
           VALUES ($1, 'MKT-VIEWS', 'YES', 0.5, 1, 'open', $2, $3) RETURNING id`,
          [`POS-${index + 1}`, environment, runId],
        );
        await client.query(
          `INSERT INTO trades (market_id, position_id, side, price, quantity, trade_source, order_type, execution_environment, backtest_run_id)
           VALUES ('MKT-VIEWS', $1, 'buy', 0.5, 1, 'manual', 'limit', $2, $3), ('MKT-VIEWS', $1, 'sell', 0.6, 1, 'manual', 'limit', $2, $3)`,
          [rows[0]!.id, environment, runId],
        );
      }
      const { rows } = await client.query<{ execution_environment: string; n: number }>(
        `SELECT execution_environment, count(*)::int AS n FROM ${view} GROUP BY 1 ORDER BY 1`,
      );
      const perRow = view.endsWith('trades') ? 2 : 1;
      expect(rows).toEqual(environments.map((environment) => ({ execution_environment: environment, n: perRow })));
    });
  });
});
