/**
 * Backtest runs with a few hundred of them kept (migration 000018: every run in one backtest
 * partition per tagged table): each run scope sees only its run; deleting a run, and purging
 * every run, leave nothing of it in any tagged table (the tables from the registry) and every
 * other run, live and paper as they were; a run deleted while another session writes into it
 * loses nothing of the others. No timing is asserted here (bench/scale.ts measures).
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { precogDb } from '../../src/scope/precog-db.js';
import { strategyAndModel } from '../queries/fixtures.js';
import { testServer, withFreshDatabase } from '../support/db.js';
import { snapshot, taggedTables, tradeEverything } from './support.js';

const RUNS = 300;
const PERIOD = { period_start: new Date('2025-01-01T00:00:00Z'), period_end: new Date('2025-02-01T00:00:00Z') };

/** RUNS runs, each with three trades naming it in market_id (written as the owner, in the run). */
async function manyRuns(pool: pg.Pool): Promise<string[]> {
  const { strategyId } = await strategyAndModel(pool);
  const { rows } = await pool.query<{ id: string }>(
    `SELECT (r).id::text AS id FROM (SELECT create_backtest_run($1, '2025-01-01', '2025-02-01', NULL, jsonb_build_object('g', g), 'many ' || g) AS r
       FROM generate_series(1, $2::int) g) x ORDER BY (r).id`,
    [strategyId, RUNS],
  );
  const ids = rows.map((row) => row.id);
  await pool.query(
    `INSERT INTO trades (market_id, side, price, quantity, fees, trade_source, order_type, execution_environment, backtest_run_id)
     SELECT 'MKT-RUN-' || r, 'buy', 0.5, 1 + k, 0.01, 'manual', 'limit', 'backtest', r FROM unnest($1::bigint[]) r, generate_series(1, 3) k`,
    [ids],
  );
  return ids;
}

/** Every tagged table's rows, as the owner sees them (no row-level security), of runs other than `except`, and of live and paper. */
async function everythingBut(pool: pg.Pool, except: string[]) {
  return snapshot(pool, `backtest_run_id IS NULL OR backtest_run_id <> ALL ('{${except.join(',')}}'::bigint[])`);
}

/** Rows of `run` in any tagged table, as the owner (nothing hidden), with its keys and its note. */
async function leftOf(pool: pg.Pool, run: string) {
  let rows = 0;
  for (const table of await taggedTables(pool)) {
    rows += Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM public."${table}" WHERE backtest_run_id = $1`, [run])).rows[0]!.n);
  }
  const { rows: [other] } = await pool.query<{ keys: string; noted: string; run: string }>(
    `SELECT (SELECT count(*) FROM precog_environment_keys WHERE backtest_run_id = $1) AS keys,
            (SELECT count(*) FROM precog_backtest_runs_deleted WHERE backtest_run_id = $1) AS noted,
            (SELECT count(*) FROM backtest_runs WHERE id = $1) AS run`,
    [run],
  );
  return { rows, keys: Number(other!.keys), noted: Number(other!.noted), run: Number(other!.run) };
}
const NOTHING = { rows: 0, keys: 0, noted: 0, run: 0 };

describe(`${RUNS} runs kept`, () => {
  it('each run scope sees its run only, by SQL as precog_backtest and through the API', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const ids = await manyRuns(pool);
      const client = await pool.connect();
      try {
        for (const run of ids) {
          await client.query('BEGIN');
          await client.query('SET LOCAL ROLE precog_backtest');
          await client.query('SELECT precog_enter_backtest_run($1::bigint)', [run]);
          const { rows } = await client.query<{ run: string; market: string }>(`SELECT backtest_run_id::text AS run, market_id AS market FROM trades`);
          await client.query('ROLLBACK');
          expect(rows, `run ${run}`).toEqual(Array.from({ length: 3 }, () => ({ run, market: `MKT-RUN-${run}` })));
        }
      } finally {
        client.release();
      }
      const db = precogDb(pool);
      for (const run of ids.filter((_, i) => i % 30 === 0)) {
        const seen = await db.scope('backtest', { api: 'none', run: (await db.backtests.get(run))! }).listRecentTrades({ limit: 50 });
        expect(seen.map((row) => row.market_id)).toEqual([`MKT-RUN-${run}`, `MKT-RUN-${run}`, `MKT-RUN-${run}`]);
      }
    });
  }, 180_000);

  it('deleting a run, then purging every run, leaves nothing of them in any table, and the rest as it was', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const ids = await manyRuns(pool);
      const db = precogDb(pool);
      const { strategyId } = await strategyAndModel(pool);
      // Two runs with rows in every tagged table, among the others; live and paper too.
      const full = [];
      for (const label of ['full A', 'full B']) {
        const run = await db.backtests.create({ strategy_id: strategyId, ...PERIOD, label });
        await tradeEverything(db.scope('backtest', { api: 'none', run }));
        full.push(String(run.id));
      }
      await tradeEverything(db.scope('paper', { api: 'demo' }));
      await tradeEverything(db.scope('live', { api: 'live' }));
      for (const table of await taggedTables(pool)) {
        const { rows: [row] } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM public."${table}" WHERE backtest_run_id = $1`, [full[0]]);
        expect(Number(row!.n), `${table} has rows of the run deleted next`).toBeGreaterThan(0);
      }
      const victims = [full[0]!, ids[7]!];
      const before = await everythingBut(pool, victims);

      for (const run of victims) await db.backtests.delete((await db.backtests.get(run))!);
      await db.backtests.sweep({ batchRows: 5 });
      for (const run of victims) expect(await leftOf(pool, run), `run ${run}`).toEqual(NOTHING);
      expect(await everythingBut(pool, victims)).toEqual(before);
      expect((await db.backtests.list()).length).toBe(RUNS + 2 - victims.length);

      const liveAndPaper = await snapshot(pool, 'backtest_run_id IS NULL');
      const { rows: purged } = await pool.query<{ table_name: string }>('SELECT table_name FROM purge_backtest_data() ORDER BY 1');
      expect(purged.map((row) => row.table_name)).toEqual(await taggedTables(pool));
      for (const run of [...ids, ...full]) expect(await leftOf(pool, run), `run ${run}`).toEqual(NOTHING);
      expect(await snapshot(pool, 'true')).toEqual(liveAndPaper);
    });
  }, 180_000);

  it('a run deleted while another session writes into it loses nothing of the other runs', async () => {
    await withFreshDatabase(async (database, pool) => {
      const ids = await manyRuns(pool);
      const [victim, neighbour] = [ids[10]!, ids[11]!];
      const others = ids.filter((id) => id !== victim);
      const before = await everythingBut(pool, [victim]);
      const { host, port, user, password } = testServer();
      const session = () => new pg.Client({ host, port, user, password, database });
      const writer = session();
      const neighbourWriter = session();
      const deleter = session();
      // A transaction of a run scope: precog_backtest, in the run it entered (the one door into a run).
      const begin = (client: pg.Client, run: string) =>
        client.query('BEGIN; SET LOCAL ROLE precog_backtest').then(() => client.query('SELECT precog_enter_backtest_run($1::bigint)', [run]));
      await Promise.all([writer.connect(), neighbourWriter.connect(), deleter.connect()]);
      const insert = (client: pg.Client, market: string) =>
        client.query(`INSERT INTO trades (market_id, side, price, quantity, fees, trade_source, order_type, execution_environment)
                      VALUES ($1, 'buy', 0.5, 1, 0, 'manual', 'limit', 'backtest')`, [market]);
      try {
        // The victim's writer is mid-transaction; the neighbour writes alongside throughout.
        await begin(writer, victim);
        await insert(writer, 'MKT-LATE');
        await begin(neighbourWriter, neighbour);
        await insert(neighbourWriter, 'MKT-NEIGHBOUR-1');
        const deleting = deleter.query('DELETE FROM backtest_runs WHERE id = $1', [victim]);
        // The delete waits for the victim's writer (it holds the run FOR KEY SHARE), not for the neighbour.
        await waitUntilBlocked(pool, deleter);
        await insert(writer, 'MKT-LATE');
        await neighbourWriter.query('COMMIT');
        await writer.query('COMMIT');
        await deleting;
        // After the delete, the victim's session cannot enter it, so cannot write into it: the run is gone.
        await expect(begin(writer, victim)).rejects.toThrow(/\[backtest-run\] there is no backtest run/);
        await writer.query('ROLLBACK');
        // The sweep runs while the neighbour keeps writing.
        await begin(neighbourWriter, neighbour);
        await insert(neighbourWriter, 'MKT-NEIGHBOUR-2');
        const sweeping = precogDb(pool).backtests.sweep({ batchRows: 1 });
        await insert(neighbourWriter, 'MKT-NEIGHBOUR-3');
        await neighbourWriter.query('COMMIT');
        await sweeping;
      } finally {
        await Promise.all([writer.end(), neighbourWriter.end(), deleter.end()]);
      }
      expect(await leftOf(pool, victim)).toEqual(NOTHING);
      const after = await everythingBut(pool, [victim]);
      const added = after.trades!.filter((row) => !before.trades!.includes(row));
      expect(added.map((row) => row.match(/MKT-[A-Z0-9-]+/)![0]).sort()).toEqual(['MKT-NEIGHBOUR-1', 'MKT-NEIGHBOUR-2', 'MKT-NEIGHBOUR-3']);
      expect(before.trades!.every((row) => after.trades!.includes(row))).toBe(true);
      for (const run of others) expect((await leftOf(pool, run)).rows, `run ${run}`).toBeGreaterThanOrEqual(3);
    });
  }, 180_000);
});

/** Resolves once `client`'s backend waits for a lock (polled from the catalog, not timed). */
async function waitUntilBlocked(pool: pg.Pool, client: pg.Client): Promise<void> {
  const pid = (client as unknown as { processID: number }).processID;
  for (;;) {
    const { rows: [row] } = await pool.query<{ blocked: boolean }>(`SELECT cardinality(pg_blocking_pids($1)) > 0 AS blocked`, [pid]);
    if (row!.blocked) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
