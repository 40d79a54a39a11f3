/**
 * Hardening II, class 6 (what a backtest process may do to other runs) and class 7 (what the
 * errors and catalogs reveal).
 *
 * The boundary: a backtest process (precog_backtest, its login) acts on the run its transaction
 * entered: it reads and writes that run's rows, relabels and finishes that run, loads into it.
 * Deleting a run, or every run, is precog_backtest_admin's (or the owner's). A refusal tells a
 * role nothing about rows it cannot see: a reference into another run reads as a reference to
 * no row, and a backtest process does not read other runs' parameters or labels.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { copyOf, ident, insertableColumns, loadFixtures } from '../support/environment-registry.js';
import { attackBench, attemptIn, endAll, enterRun, rolledBack, rowsOfRun } from './support.js';

const withBench = attackBench();

const runRow = async (owner: pg.Pool, run: string) =>
  (await owner.query<{ label: string; status: string }>('SELECT label, status FROM backtest_runs WHERE id = $1', [run])).rows[0];

describe('class 6: a backtest process acts on its own run only', () => {
  it('cannot delete, purge, relabel or load another run, nor purge every run, in its run or in none', async () => {
    await withBench(async ({ owner, registry, run, otherRun, principals }) => {
      const before = { rows: await rowsOfRun(owner, registry, otherRun), run: await runRow(owner, otherRun) };
      const { rows: allRuns } = await owner.query<{ n: number }>('SELECT count(*)::int AS n FROM backtest_runs');
      const tables = registry.tables.map((t) => t.name);
      const done: string[] = [];
      for (const principal of principals.filter((p) => p.role === 'precog_backtest')) {
        const client = await principal.connect();
        try {
          for (const inRun of [run, undefined]) {
            const attacks: [string, string, unknown[]][] = [
              ['delete', 'DELETE FROM backtest_runs WHERE id = $1', [otherRun]],
              ['purge', 'SELECT public.purge_backtest_run($1)', [otherRun]],
              ['purge every run', 'SELECT * FROM public.purge_backtest_data()', []],
              ['relabel', `UPDATE backtest_runs SET label = 'taken over', status = 'failed', finished_at = now() WHERE id = $1`, [otherRun]],
              ['load', 'SELECT * FROM public.precog_backtest_load_begin($1, $2)', [otherRun, tables]],
            ];
            for (const [what, sql, params] of attacks) {
              // Committed, as an attacker would: what is refused leaves nothing to commit.
              await client.query('BEGIN');
              if (inRun) await enterRun(client, inRun);
              const error = await attemptIn(client, sql, params).then(async (e) => {
                if (!e) await client.query(sql, params).catch(() => undefined);
                return e;
              });
              await client.query('COMMIT');
              const after = { rows: await rowsOfRun(owner, registry, otherRun), run: await runRow(owner, otherRun) };
              const { rows: runsNow } = await owner.query<{ n: number }>('SELECT count(*)::int AS n FROM backtest_runs');
              if (JSON.stringify(after) !== JSON.stringify(before) || runsNow[0]!.n !== allRuns[0]!.n) {
                done.push(`${principal.name} (${inRun ? 'in its run' : 'in no run'}) could ${what} another run${error ? '' : ' (no error)'}`);
                return expect(done).toEqual([]);
              }
              if (what === 'load' && !error) done.push(`${principal.name} began a load of another run`);
            }
          }
        } finally {
          await endAll([client]);
        }
      }
      expect(done).toEqual([]);
    });
  });

  it('deleting another run, or every run, is precog_backtest_admin\'s', async () => {
    await withBench(async ({ owner, registry, otherRun }) => {
      const client = await owner.connect();
      try {
        await rolledBack(client, async () => {
          await client.query('SET LOCAL ROLE precog_backtest_admin');
          const { rowCount } = await client.query('DELETE FROM backtest_runs WHERE id = $1', [otherRun]);
          expect(rowCount).toBe(1);
          await client.query('SELECT * FROM public.purge_backtest_data()');
          await client.query('RESET ROLE');
          for (const table of registry.tables) {
            const { rows: [left] } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ident(table.name)} WHERE execution_environment = 'backtest'`);
            expect(left!.n, table.name).toBe(0);
          }
        });
      } finally {
        client.release();
      }
    });
  });
});

describe('class 7: errors and catalogs say only what the role may learn', () => {
  it('a reference into another run is refused exactly as a reference to no row', async () => {
    await withBench(async ({ owner, registry, run, otherRun, principals }) => {
      const client = await owner.connect();
      const fixtures = await loadFixtures(client, registry).finally(() => client.release());
      const told: string[] = [];
      for (const principal of principals.filter((p) => p.role === 'precog_backtest')) {
        const scope = await principal.connect();
        try {
          for (const reference of registry.references) {
            const table = registry.tables.find((t) => t.name === reference.table)!;
            const using = fixtures[table.name]!.backtest.using[reference.columns.join(',')]!;
            const theirs = fixtures[reference.referencedTable]!.backtest.otherRunRow!;
            const columns = insertableColumns(table).map(ident).join(', ');
            const messages: string[] = [];
            for (const target of [theirs, Object.fromEntries(reference.referencedColumns.map((c) => [c, 2_000_000_000]))]) {
              const row = copyOf(table, using, Object.fromEntries(reference.columns.map((c, i) => [c, target[reference.referencedColumns[i]!]])));
              const error = await rolledBack(scope, async () => {
                await enterRun(scope, run);
                return attemptIn(scope, `INSERT INTO ${ident(table.name)} (${columns}) SELECT ${columns} FROM jsonb_populate_record(NULL::${ident(table.name)}, $1::jsonb)`, [JSON.stringify(row)]);
              });
              messages.push(`${error?.code} ${error?.message.replace(/\d+/g, 'N')}`);
            }
            if (messages[0] !== messages[1]) told.push(`${principal.name}, ${table.name} (${reference.columns.join(', ')}): "${messages[0]}" but "${messages[1]}"`);
          }
        } finally {
          await endAll([scope]);
        }
      }
      expect(told).toEqual([]);
      expect(otherRun).not.toBe(run);
    });
  });

  it('a backtest process reads no other run\'s parameters or label', async () => {
    await withBench(async ({ run, otherRun, principals }) => {
      const read: string[] = [];
      for (const principal of principals.filter((p) => p.role === 'precog_backtest')) {
        const client = await principal.connect();
        try {
          for (const inRun of [run, undefined]) {
            await rolledBack(client, async () => {
              if (inRun) await enterRun(client, inRun);
              const { rows } = await client.query('SELECT id, parameters, label FROM backtest_runs WHERE id = $1', [otherRun]);
              if (rows.length) read.push(`${principal.name} (${inRun ? 'in its run' : 'in no run'}) read run ${otherRun}`);
            });
          }
        } finally {
          await endAll([client]);
        }
      }
      expect(read).toEqual([]);
    });
  });

  // Skipped on the partition-per-run layout of migration 000013: every run has a relation per
  // tagged table (`<t>_run_<id>`), which pg_class shows every role with its size. Issue 21 replaces
  // that layout; unskip once it is merged (the test reads the catalog, not names).
  it.skip('the catalog shows no role a relation per run, nor its size', async () => {
    await withBench(async ({ otherRun, principals }) => {
      for (const principal of principals.filter((p) => p.role)) {
        const client = await principal.connect();
        try {
          const { rows } = await client.query(
            `SELECT c.oid::regclass::text AS relation, pg_relation_size(c.oid) AS size FROM pg_class c
              WHERE c.relispartition AND pg_get_expr(c.relpartbound, c.oid) ~ ('\\m' || $1 || '\\M')`,
            [otherRun],
          );
          expect(rows, principal.name).toEqual([]);
        } finally {
          await endAll([client]);
        }
      }
    });
  });
});
