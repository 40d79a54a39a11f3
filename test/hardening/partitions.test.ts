/**
 * Hardening II, class 3: side doors into partitions.
 *
 * The attack: a statement naming a partition directly (`INSERT INTO trades_run_<n> ...`) runs no
 * reference check, so a backtest row references a live position version or another run's row.
 * Partitions are found from pg_inherits (at any depth) and each row's own partition from its
 * tableoid, so the tests hold for whatever layout the runs take.
 */
import { describe, expect, it } from 'vitest';
import { copyOf, ident, insertableColumns, loadFixtures, type Row, type TaggedTable } from '../support/environment-registry.js';
import { attackBench, attemptIn, endAll, enterRun, partitionsOf, rolledBack } from './support.js';

const withBench = attackBench();

const insertInto = (relation: string, table: TaggedTable, row: Row) => {
  const columns = insertableColumns(table).map(ident).join(', ');
  return { text: `INSERT INTO ${relation} (${columns}) SELECT ${columns} FROM jsonb_populate_record(NULL::${ident(table.name)}, $1::jsonb)`, params: [JSON.stringify(row)] };
};

describe('class 3: every path into a partition enforces the rules, or is refused', () => {
  it('no role or login writes into any partition directly', async () => {
    await withBench(async ({ owner, registry, run, principals }) => {
      const client = await owner.connect();
      const fixtures = await loadFixtures(client, registry).finally(() => client.release());
      const written: string[] = [];
      for (const principal of principals.filter((p) => p.role && p.role !== 'precog_analyst')) {
        const environment = principal.role!.slice('precog_'.length) as 'live' | 'paper' | 'backtest';
        const attacker = await principal.connect();
        try {
          for (const table of registry.tables) {
            const row = copyOf(table, fixtures[table.name]![environment].free);
            for (const partition of await partitionsOf(owner, table.name)) {
              const { text, params } = insertInto(partition, table, row);
              const error = await rolledBack(attacker, async () => {
                if (environment === 'backtest') await enterRun(attacker, run);
                return attemptIn(attacker, text, params);
              });
              if (!error) written.push(`${principal.name} wrote into ${partition}`);
            }
          }
        } finally {
          await endAll([attacker]);
        }
      }
      expect(written).toEqual([]);
    });
  });

  // Skipped on the partition-per-run layout of migration 000013: the reference checks are
  // statement triggers on a tagged table and its environment partitions, not on the run
  // partitions below them, so the owner's INSERT naming a run partition is not checked. Issue 21
  // replaces that layout (and this door with it); unskip once it is merged.
  it.skip('the owner\'s insert naming a row\'s own partition still checks its references, within the run', async () => {
    await withBench(async ({ owner, registry, run }) => {
      const client = await owner.connect();
      try {
        const fixtures = await loadFixtures(client, registry);
        const accepted: string[] = [];
        for (const reference of registry.references) {
          const table = registry.tables.find((t) => t.name === reference.table)!;
          const using = fixtures[table.name]!.backtest.using[reference.columns.join(',')]!;
          const { rows: [home] } = await client.query<{ partition: string }>(
            `SELECT tableoid::regclass::text AS partition FROM ${ident(table.name)} WHERE backtest_run_id = $1 LIMIT 1`,
            [run],
          );
          for (const [what, target] of [
            ['a live row', fixtures[reference.referencedTable]!.live.free],
            ['a row of another run', fixtures[reference.referencedTable]!.backtest.otherRunRow!],
          ] as const) {
            const row = copyOf(table, using, Object.fromEntries(reference.columns.map((c, i) => [c, target[reference.referencedColumns[i]!]])));
            const { text, params } = insertInto(home!.partition, table, row);
            const error = await rolledBack(client, () => attemptIn(client, text, params));
            if (!error) accepted.push(`${home!.partition} (${reference.columns.join(', ')}) -> ${what} of ${reference.referencedTable}`);
          }
        }
        expect(accepted).toEqual([]);
      } finally {
        client.release();
      }
    });
  });
});
