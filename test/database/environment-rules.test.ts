/**
 * Issue 5, "The database enforces the rule", from the registry: every rule of migration 000010
 * attempted in raw SQL, as the owner and as each role, for every table of
 * precog_environment_tables and every reference of precog_environment_references (no list of
 * tables here: test/support/environment-rule-cases.ts generates the cases from the registry and
 * the catalog). The attempts run in savepoints of one rolled-back transaction over a database
 * of their own; the catalog checks read the same database.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { withRollback } from '../support/db.js';
import { ACTORS, attempt, seedEveryEnvironment, SCD_PRICE_UPDATE } from '../support/environment-fixtures.js';
import { ALL_RULES, defineCatalogSuite, defineEnvironmentRuleSuite, suiteDatabase } from '../support/environment-rule-cases.js';
import { ident, sharedTables } from '../support/environment-registry.js';
import { seedTaggedTables } from '../support/environment-seeds.js';

const db = await suiteDatabase();
afterAll(() => db.drop());

describe('the database enforces environment isolation, for every table of the registry', () => {
  const summary = defineEnvironmentRuleSuite(db, (client) => seedTaggedTables(client, db.registry));

  it('takes its tables from the registry, and refuses at least one attempt of every rule of their kinds', () => {
    const names = db.registry.tables.map((t) => t.name);
    // The registry is the list: trades and positions are in it because migration 000010 declared them.
    expect(names).toEqual(expect.arrayContaining(['positions', 'trades']));
    const kinds = new Set(db.registry.tables.map((t) => t.kind));
    const expected = ALL_RULES.filter(
      (r) =>
        (r !== 'append-only' || kinds.has('append_only')) &&
        (r !== 'immutable-column' || kinds.has('mutable')) &&
        (!r.startsWith('version-') || kinds.has('versioned')) &&
        ((r !== 'environment-cross-reference' && r !== 'backtest-run-cross-reference') || db.registry.references.length > 0),
    );
    expect(summary.rules).toEqual(expected);
    expect(summary.refusals).toBeGreaterThanOrEqual(100);
    console.info(
      `environment rules: ${summary.tables} tagged tables (${names.join(', ')}), ${summary.references} references; ` +
        `${summary.cases} cases x ${ACTORS.length} actors = ${summary.attempts} attempts, ${summary.refusals} of them refusals ` +
        `(${summary.rules.length} named rules); ${summary.knownDefects} attempts expected to fail on known schema defects`,
    );
  });
});

defineCatalogSuite(db);

describe('legitimate operations still work', () => {
  it('the paper role opens a paper position, records a fill on it and writes a new SCD version', async () => {
    await withRollback(async (client) => {
      await client.query('SET LOCAL ROLE precog_paper');
      const { rows: [opened] } = await client.query<{ id: number; position_key: string }>(
        `INSERT INTO paper_positions (position_key, market_id, side, entry_price, quantity, current_price, status, execution_environment)
         VALUES ('POS-' || nextval('position_key_seq'), 'MKT-LEGIT', 'NO', 0.3, 5, 0.3, 'open', 'paper') RETURNING id, position_key`,
      );
      await client.query(
        `INSERT INTO trades (market_id, position_id, side, price, quantity, fees, trade_source, order_type, execution_environment)
         VALUES ('MKT-LEGIT', $1, 'buy', 0.3, 5, 0.02, 'manual', 'limit', 'paper')`,
        [opened!.id],
      );
      const { rows: [next] } = await client.query(SCD_PRICE_UPDATE, [opened!.position_key, '0.0500']);
      expect(next).toMatchObject({ position_key: opened!.position_key, current_price: '0.3500', execution_environment: 'paper' });
      const { rows: history } = await client.query(
        'SELECT row_current_ind, current_price FROM paper_positions WHERE position_key = $1 ORDER BY id',
        [opened!.position_key],
      );
      expect(history).toEqual([
        { row_current_ind: false, current_price: '0.3000' },
        { row_current_ind: true, current_price: '0.3500' },
      ]);
    });
  });

  it('the analyst reads every environment, in the tables and through the views', async () => {
    await withRollback(async (client) => {
      const seed = await seedEveryEnvironment(client, 'MKT-ANALYST');
      await client.query('SET LOCAL ROLE precog_analyst');
      const { rows } = await client.query(
        `SELECT execution_environment, count(*)::int AS n FROM trades WHERE market_id = 'MKT-ANALYST' GROUP BY 1 ORDER BY 1`,
      );
      expect(rows).toEqual([
        { execution_environment: 'live', n: 1 },
        { execution_environment: 'paper', n: 1 },
        { execution_environment: 'backtest', n: 1 },
      ]);
      const views = await client.query(
        `SELECT (SELECT count(*) FROM live_trades WHERE market_id = 'MKT-ANALYST')::int AS live,
                (SELECT count(*) FROM paper_trades WHERE market_id = 'MKT-ANALYST')::int AS paper,
                (SELECT count(*) FROM backtest_positions WHERE position_key = $1)::int AS backtest_versions,
                (SELECT count(*) FROM training_data_trades WHERE market_id = 'MKT-ANALYST')::int AS training`,
        [seed.backtest.key],
      );
      expect(views.rows[0]).toEqual({ live: 1, paper: 1, backtest_versions: 2, training: 2 });
    });
  });

  it('shared tables: only precog_ingest writes them; the environment roles and the analyst read them', async () => {
    await withRollback(async (client) => {
      for (const actor of ACTORS) {
        const result = await attempt(
          client,
          actor,
          `INSERT INTO markets (market_id, platform_id, ticker, title, market_type, yes_price, no_price)
           VALUES ('MKT-RULES-' || nextval('position_key_seq'), 'kalshi', 'RULES-' || currval('position_key_seq'), 'Rules', 'binary', 0.5, 0.5)`,
        );
        if (actor === 'owner') expect(result.error, `${actor}: ${result.error?.message}`).toBeUndefined();
        else expect(result.error?.code, actor).toBe('42501');
      }
      const ingest = await attempt(
        client,
        'precog_ingest',
        `INSERT INTO markets (market_id, platform_id, ticker, title, market_type, yes_price, no_price)
         VALUES ('MKT-RULES-INGEST', 'kalshi', 'RULES-INGEST', 'Rules', 'binary', 0.5, 0.5)`,
      );
      expect(ingest.error, ingest.error?.message).toBeUndefined();
    });
  });

  it('every role reads every shared table', async () => {
    await withRollback(async (client) => {
      const shared = await sharedTables(client);
      expect(shared, 'the shared tables, from the catalog').toContain('markets');
      for (const role of ACTORS.filter((actor) => actor !== 'owner')) {
        for (const table of shared) {
          const result = await attempt(client, role, `SELECT count(*)::int AS n FROM ${ident(table)}`);
          expect(result.error, `${role} reading ${table}`).toBeUndefined();
        }
        const platform = await attempt(client, role, `SELECT name FROM platforms WHERE platform_id = 'kalshi'`);
        expect(platform.rows).toEqual([{ name: 'Kalshi' }]);
      }
    });
  });

  it('purge_backtest_data() removes every backtest row of every tagged table and nothing else', async () => {
    await withRollback(async (client) => {
      await seedTaggedTables(client, db.registry);
      // Per table of the registry and environment: how many rows, before and after.
      const counts = async () => {
        const result: Record<string, Record<string, number>> = {};
        for (const { name } of db.registry.tables) {
          const { rows } = await client.query<{ environment: string; n: number }>(
            `SELECT execution_environment::text AS environment, count(*)::int AS n FROM ${ident(name)} GROUP BY 1`);
          result[name] = Object.fromEntries(rows.map((r) => [r.environment, r.n]));
        }
        return result;
      };
      const before = await counts();
      await client.query('SET LOCAL ROLE precog_backtest_admin');
      const { rows: purged } = await client.query<{ table_name: string; rows_deleted: string }>('SELECT * FROM purge_backtest_data()');
      await client.query('RESET ROLE');
      const after = await counts();
      expect(Object.fromEntries(purged.map((row) => [row.table_name, Number(row.rows_deleted)]))).toEqual(
        Object.fromEntries(db.registry.tables.map(({ name }) => [name, before[name]!.backtest ?? 0])));
      for (const { name } of db.registry.tables) {
        expect(before[name]!.backtest, `${name} had backtest rows to purge`).toBeGreaterThan(0);
        const { backtest: _gone, ...kept } = before[name]!;
        expect(after[name], name).toEqual(kept);
      }
    });
  });
});
