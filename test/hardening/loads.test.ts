/**
 * Hardening II, class 4: the bulk load against concurrent writers.
 *
 * The attacks: while a load of run X is under way, a run scope of X inserts a row and commits,
 * and the load's finish loses it; a load begun and committed but never finished leaves a table
 * any backtest session can write into; after a load, precog_backtest keeps the right to advance
 * the id sequences live uses. What a backtest session may write, and which sequences it may
 * advance, is read from the catalog (has_table_privilege, has_sequence_privilege).
 *
 * Skipped on the layout of migration 000013 (a run's partition replaced by the load's staging
 * table): issue 21 rewrites the load and the run layout, which is where these are fixed. The
 * tests use the SQL of that load (precog_backtest_load_begin/finish); unskip, adapted to the new
 * load's calls, once it is merged.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { copyOf, ident, insertableColumns, loadFixtures } from '../support/environment-registry.js';
import { attackBench, endAll, enterRun } from './support.js';

const withBench = attackBench();

/** Resolves once `pending` settles or the backend `pid` waits for a lock (no timing: either is an event). */
async function settledOrWaiting(owner: pg.Pool, pid: number, pending: Promise<unknown>): Promise<void> {
  let settled = false;
  void pending.then(() => (settled = true), () => (settled = true));
  while (!settled) {
    const { rows } = await owner.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, [pid]);
    if (rows.length) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Tables (other than the tagged ones) precog_backtest may insert into, and sequences it may advance. */
async function backtestWrites(owner: pg.Pool, tagged: string[]): Promise<string[]> {
  const { rows } = await owner.query<{ what: string }>(
    `SELECT 'insert into ' || c.oid::regclass::text AS what FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
        AND has_table_privilege('precog_backtest', c.oid, 'INSERT') AND NOT c.relname = ANY ($1)
     UNION ALL
     SELECT 'advance ' || s.oid::regclass::text FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.deptype = 'i'
      WHERE s.relkind = 'S' AND has_sequence_privilege('precog_backtest', s.oid, 'USAGE')`,
    [tagged],
  );
  return rows.map((r) => r.what);
}

describe.skip('class 4: a load and the run\'s writers', () => {
  it('a row a run scope commits while its run is being loaded is not lost', async () => {
    await withBench(async ({ owner, registry, login }) => {
      const client = await owner.connect();
      const fixtures = await loadFixtures(client, registry).finally(() => client.release());
      const { rows: [made] } = await owner.query<{ id: string }>(`SELECT id::text AS id FROM create_backtest_run(NULL, '2024-01-01', '2024-02-01', NULL, '{}', 'loaded')`);
      const run = made!.id;
      const table = registry.tables.find((t) => !registry.references.some((r) => r.table === t.name))!;
      const [loader, writer] = [await login('precog_backtest'), await login('precog_backtest')];
      try {
        await loader.query('BEGIN');
        await enterRun(loader, run);
        await loader.query('SELECT * FROM public.precog_backtest_load_begin($1, $2)', [run, [table.name]]);
        const columns = insertableColumns(table).map(ident).join(', ');
        const row = copyOf(table, { ...fixtures[table.name]!.backtest.free, backtest_run_id: run });
        const pid = (await writer.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        const written = (async () => {
          await writer.query('BEGIN');
          await enterRun(writer, run);
          await writer.query(`INSERT INTO ${ident(table.name)} (${columns}) SELECT ${columns} FROM jsonb_populate_record(NULL::${ident(table.name)}, $1::jsonb)`, [JSON.stringify(row)]);
          await writer.query('COMMIT');
          return 'committed';
        })().catch((error: Error) => `refused: ${error.message}`);
        await settledOrWaiting(owner, pid, written);
        const finished = await loader.query('SELECT * FROM public.precog_backtest_load_finish($1)', [run]).then(() => loader.query('COMMIT')).then(
          () => 'finished',
          async (error: Error) => (await loader.query('ROLLBACK'), `refused: ${error.message}`),
        );
        const wrote = await written;
        const { rows: [kept] } = await owner.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ident(table.name)} WHERE backtest_run_id = $1`, [run]);
        // Either both went through and the row is there, or one was refused (with a typed error).
        if (wrote === 'committed' && finished === 'finished') expect(kept!.n).toBe(1);
        else expect([wrote, finished].some((outcome) => outcome.startsWith('refused'))).toBe(true);
      } finally {
        await endAll([loader, writer]);
      }
    });
  });

  it('a load committed unfinished, or finished, leaves precog_backtest no table to write and no sequence to advance', async () => {
    await withBench(async ({ owner, registry, login }) => {
      const tagged = registry.tables.map((t) => t.name);
      const before = await backtestWrites(owner, tagged);
      for (const finish of [false, true]) {
        const { rows: [made] } = await owner.query<{ id: string }>(`SELECT id::text AS id FROM create_backtest_run(NULL, '2024-01-01', '2024-02-01', NULL, '{}', 'loaded')`);
        const loader = await login('precog_backtest');
        try {
          await loader.query('BEGIN');
          await enterRun(loader, made!.id);
          await loader.query('SELECT * FROM public.precog_backtest_load_begin($1, $2)', [made!.id, tagged]);
          if (finish) await loader.query('SELECT * FROM public.precog_backtest_load_finish($1)', [made!.id]);
          await loader.query('COMMIT');
        } finally {
          await endAll([loader]);
        }
        expect(await backtestWrites(owner, tagged), finish ? 'after a load' : 'after an abandoned load').toEqual(before);
      }
    });
  });
});
