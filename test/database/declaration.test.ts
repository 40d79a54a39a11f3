/**
 * "A table declared in a test migration gets every guarantee with no other change": a migration
 * of this test creates three new tables (a mutable one referencing positions, an append-only one
 * referencing it, a versioned one), declares them with precog_environment_table(), and the SAME
 * generated rule cases and catalog checks as environment-rules.test.ts run against them, picked
 * up from the registry. Then: purge_backtest_data() empties every backtest partition (foreign keys
 * between the new tables included) and leaves live and paper rows; declaring twice changes
 * nothing; bad arguments raise clear errors and leave nothing behind.
 */
import type pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { backtestRun } from '../support/backtest-run.js';
import { withFreshDatabase } from '../support/db.js';
import { ENVIRONMENTS } from '../support/environment-fixtures.js';
import { catalogFingerprint, ident, loadRegistry } from '../support/environment-registry.js';
import { ALL_RULES, defineCatalogSuite, defineEnvironmentRuleSuite, suiteDatabase } from '../support/environment-rule-cases.js';
import { fixtureRun, seedTaggedTables } from '../support/environment-seeds.js';

const NEW_TABLES = ['test_orders', 'test_fills', 'test_limits'];

/** The test migration: plain CREATE TABLEs (one with the forbidden DEFAULT 'live'), foreign keys as an author writes them, and the declarations. */
const TEST_MIGRATION = `
CREATE TABLE test_orders (
  id                     integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_ref              text NOT NULL UNIQUE CONSTRAINT test_orders_order_ref_format CHECK (order_ref ~ '^ORD-[0-9]+$'),
  position_id            integer NOT NULL,
  status                 text NOT NULL DEFAULT 'open' CONSTRAINT test_orders_status CHECK (status IN ('open', 'filled', 'cancelled')),
  filled_quantity        integer NOT NULL DEFAULT 0 CONSTRAINT test_orders_filled_quantity CHECK (filled_quantity >= 0),
  limit_price            numeric(10,4) NOT NULL CONSTRAINT test_orders_limit_price_range CHECK (limit_price >= 0 AND limit_price <= 1),
  note                   text,
  created_at             timestamptz NOT NULL DEFAULT now(),
  execution_environment  execution_environment NOT NULL DEFAULT 'live',
  backtest_run_id        bigint,
  FOREIGN KEY (position_id, execution_environment, backtest_run_id) REFERENCES positions (id, execution_environment, backtest_run_id)
);
SELECT precog_environment_table('test_orders', kind => 'mutable', mutable_columns => ARRAY['status', 'filled_quantity']);

CREATE TABLE test_fills (
  id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id               integer NOT NULL,
  quantity               integer NOT NULL CONSTRAINT test_fills_quantity_positive CHECK (quantity > 0),
  price                  numeric(10,4) NOT NULL CONSTRAINT test_fills_price_range CHECK (price >= 0 AND price <= 1),
  filled_at              timestamptz NOT NULL DEFAULT now(),
  execution_environment  execution_environment NOT NULL,
  backtest_run_id        bigint,
  FOREIGN KEY (order_id, execution_environment, backtest_run_id) REFERENCES test_orders (id, execution_environment, backtest_run_id)
);
SELECT precog_environment_table('test_fills', kind => 'append_only');

CREATE TABLE test_limits (
  id                     integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  limit_key              text NOT NULL CONSTRAINT test_limits_limit_key_format CHECK (limit_key ~ '^LIM-[0-9]+$'),
  max_quantity           integer NOT NULL CONSTRAINT test_limits_max_quantity_positive CHECK (max_quantity > 0),
  row_current_ind        boolean NOT NULL DEFAULT true,
  row_start_ts           timestamptz NOT NULL DEFAULT now(),
  row_end_ts             timestamptz,
  execution_environment  execution_environment NOT NULL,
  CONSTRAINT test_limits_current_iff_open_ended CHECK (row_current_ind = (row_end_ts IS NULL))
);
SELECT precog_environment_table('test_limits', kind => 'versioned', business_key => ARRAY['limit_key']);
`;

/**
 * The test's own rows: per environment, two orders on the current position (open, filled), a fill
 * of the first, a limit; backtest rows in the run of the fixtures (their position's).
 */
async function seedNewTables(client: pg.ClientBase): Promise<void> {
  const run = await fixtureRun(client);
  for (const environment of ENVIRONMENTS) {
    const { rows: [position] } = await client.query<{ id: number; run: string | null }>(
      `SELECT id, backtest_run_id AS run FROM positions WHERE execution_environment = $1 AND row_current_ind
          AND backtest_run_id IS NOT DISTINCT FROM CASE WHEN $1 = 'backtest' THEN $2::bigint END ORDER BY id LIMIT 1`,
      [environment, run],
    );
    const { rows: [order] } = await client.query<{ id: number }>(
      `INSERT INTO test_orders (order_ref, position_id, limit_price, execution_environment, backtest_run_id)
       VALUES ('ORD-' || (1000000 + nextval('position_key_seq')), $1, 0.4, $2, $3) RETURNING id`,
      [position!.id, environment, position!.run],
    );
    await client.query(
      `INSERT INTO test_orders (order_ref, position_id, status, filled_quantity, limit_price, note, execution_environment, backtest_run_id)
       VALUES ('ORD-' || (1000000 + nextval('position_key_seq')), $1, 'filled', 5, 0.45, 'filled at once', $2, $3)`,
      [position!.id, environment, position!.run],
    );
    await client.query(`INSERT INTO test_fills (order_id, quantity, price, execution_environment, backtest_run_id) VALUES ($1, 2, 0.41, $2, $3)`, [
      order!.id,
      environment,
      position!.run,
    ]);
    await client.query(
      `INSERT INTO test_limits (limit_key, max_quantity, execution_environment, backtest_run_id) VALUES ('LIM-' || nextval('position_key_seq'), 100, $1, $2)`,
      [environment, position!.run],
    );
  }
}

// A run made before the test migration: the tables it declares get a partition for it too.
const RUN_BEFORE = `SELECT create_backtest_run(NULL, '2024-01-01', '2024-02-01', label => 'made before the test migration');`;
const db = await suiteDatabase(RUN_BEFORE + TEST_MIGRATION);
afterAll(() => db.drop());

describe('tables declared in a test migration get every rule, from the registry alone', () => {
  const summary = defineEnvironmentRuleSuite(db, (client) => seedTaggedTables(client, db.registry, seedNewTables));

  it('the registry lists the new tables, their references, and every rule is attempted', async () => {
    const names = db.registry.tables.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining([...NEW_TABLES, 'positions', 'trades']));
    expect(db.registry.tables.filter((t) => NEW_TABLES.includes(t.name)).map((t) => [t.name, t.kind, t.businessKey, t.mutableColumns])).toEqual([
      ['test_fills', 'append_only', [], []],
      ['test_limits', 'versioned', ['limit_key'], []],
      ['test_orders', 'mutable', [], ['status', 'filled_quantity']],
    ]);
    expect(db.registry.references).toEqual(
      expect.arrayContaining([
        { table: 'test_orders', columns: ['position_id'], referencedTable: 'positions', referencedColumns: ['id'] },
        { table: 'test_fills', columns: ['order_id'], referencedTable: 'test_orders', referencedColumns: ['id'] },
      ]),
    );
    expect(summary.rules).toEqual(ALL_RULES);
    // Declared after a run was made, each index of each new table has a twin on its backtest
    // partition led by backtest_run_id (or one that begins with the same columns).
    const { rows: twins } = await db.pool.query<{ t: string; missing: string[] }>(
      `WITH keys AS (
         SELECT i.indexrelid, i.indrelid, ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(n, o)
                                                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o) AS cols
           FROM pg_index i)
       SELECT t, ARRAY(SELECT c.relname::text FROM keys i JOIN pg_class c ON c.oid = i.indexrelid
                        WHERE i.indrelid = format('public.%I', t)::regclass
                          AND NOT EXISTS (SELECT FROM keys j WHERE j.indrelid = precog_environment_partition(format('public.%I', t)::regclass, 'backtest')
                                             AND j.cols[1] = 'backtest_run_id'
                                             AND j.cols[2:] @> array_remove(array_remove(i.cols, 'execution_environment'), 'backtest_run_id')
                                             AND (j.cols[2:])[1:cardinality(array_remove(array_remove(i.cols, 'execution_environment'), 'backtest_run_id'))]
                                                 = array_remove(array_remove(i.cols, 'execution_environment'), 'backtest_run_id'))) AS missing
         FROM unnest($1::text[]) t ORDER BY 1`,
      [NEW_TABLES],
    );
    expect(twins).toEqual([...NEW_TABLES].sort().map((t) => ({ t, missing: [] })));
    console.info(
      `declared tables: ${summary.tables} tagged tables (${NEW_TABLES.length} from the test migration), ${summary.references} references; ` +
        `${summary.cases} cases x 5 actors = ${summary.attempts} attempts, ${summary.refusals} refusals, ${summary.rules.length} named rules`,
    );
  });
});

defineCatalogSuite(db);

/** A database of its own with the test migration, for what must commit or lock whole partitions. */
function withTestMigration<T>(body: (pool: pg.Pool) => Promise<T>): Promise<T> {
  return withFreshDatabase(async (_database, pool) => {
    await pool.query(TEST_MIGRATION);
    return body(pool);
  });
}

describe('purge_backtest_data() over the declared tables', () => {
  it('empties every backtest partition, foreign keys between the new tables included, and leaves every live and paper row', async () => {
    await withTestMigration(async (pool) => {
      const client = await pool.connect();
      try {
        const registry = await loadRegistry(client);
        await client.query('BEGIN');
        await seedTaggedTables(client, registry, seedNewTables);
        await client.query('COMMIT');
        const counts = async () => {
          const result: Record<string, Record<string, number>> = {};
          for (const table of registry.tables) {
            const { rows } = await client.query<{ environment: string; n: number }>(
              `SELECT e::text AS environment, (SELECT count(*)::int FROM ${ident(table.name)} t WHERE t.execution_environment = e) AS n
                 FROM unnest(enum_range(NULL::execution_environment)) e`,
            );
            result[table.name] = Object.fromEntries(rows.map((r) => [r.environment, r.n]));
          }
          return result;
        };
        const before = await counts();
        for (const table of NEW_TABLES) for (const environment of ENVIRONMENTS) expect(before[table]![environment], `${table} ${environment}`).toBeGreaterThan(0);

        await client.query('SET ROLE precog_backtest_admin');
        const { rows: purged } = await client.query<{ table_name: string; rows_deleted: string }>('SELECT * FROM purge_backtest_data()');
        await client.query('RESET ROLE');
        expect(Object.fromEntries(purged.map((r) => [r.table_name, Number(r.rows_deleted)]))).toEqual(
          Object.fromEntries(registry.tables.map((t) => [t.name, before[t.name]!.backtest])),
        );
        const after = await counts();
        expect(after).toEqual(Object.fromEntries(registry.tables.map((t) => [t.name, { ...before[t.name], backtest: 0 }])));
        const { rows: keys } = await client.query<{ k: Record<string, string> }>('SELECT to_jsonb(k) AS k FROM precog_environment_keys k');
        expect(keys.filter(({ k }) => (k.environment ?? k.execution_environment) === 'backtest')).toEqual([]);
        expect(keys.length).toBeGreaterThan(0);
        // Every run went with its rows, and nothing waits for a sweep.
        expect((await client.query('SELECT id FROM backtest_runs')).rows).toEqual([]);
        expect((await client.query('SELECT backtest_run_id FROM precog_backtest_runs_deleted')).rows).toEqual([]);
        // The backtest environment works again after the purge: a new run (made by precog_backtest), a new order on a new position in it.
        await client.query('BEGIN');
        await client.query('SET LOCAL ROLE precog_backtest');
        await backtestRun(client, { enter: true });
        const { rows: [position] } = await client.query<{ id: number }>(
          `INSERT INTO positions (position_key, market_id, side, entry_price, quantity, status, execution_environment)
           VALUES ('POS-' || nextval('position_key_seq'), 'MKT-PURGED', 'YES', 0.5, 1, 'open', 'backtest') RETURNING id`,
        );
        await client.query(
          `INSERT INTO test_orders (order_ref, position_id, limit_price, execution_environment) VALUES ('ORD-42', $1, 0.5, 'backtest')`,
          [position!.id],
        );
        await client.query('COMMIT');
        console.info(`purge: ${purged.map((r) => `${r.table_name} ${r.rows_deleted}`).join(', ')}`);
      } finally {
        await client.query('RESET ROLE').catch(() => undefined);
        client.release();
      }
    });
  });
});

describe('precog_environment_table() itself', () => {
  it('declaring every table again with its registered arguments changes nothing', async () => {
    await withTestMigration(async (pool) => {
      const client = await pool.connect();
      try {
        const before = await catalogFingerprint(client);
        const { rows: declared } = await client.query('SELECT * FROM precog_environment_tables ORDER BY table_name');
        for (const d of declared) {
          await client.query(
            `SELECT precog_environment_table($1, kind => $2, business_key => $3, mutable_columns => $4, current_column => coalesce($5, 'row_current_ind'), end_column => coalesce($6, 'row_end_ts'))`,
            [d.table_name, d.kind, d.kind === 'versioned' ? d.business_key : null, d.kind === 'mutable' ? d.mutable_columns : null, d.current_column, d.end_column],
          );
        }
        await client.query(TEST_MIGRATION.replace(/CREATE TABLE[\s\S]*?\n\);\n/g, '')); // the declarations of the test migration, again
        expect(await catalogFingerprint(client)).toEqual(before);
        expect(before.triggers!.length).toBeGreaterThan(0);
      } finally {
        client.release();
      }
    });
  });

  it('a changed declaration changed back leaves the catalog as it was', async () => {
    await withTestMigration(async (pool) => {
      const client = await pool.connect();
      try {
        const before = await catalogFingerprint(client);
        await client.query(`SELECT precog_environment_table('test_orders', kind => 'mutable', mutable_columns => ARRAY['status'])`);
        const changed = await catalogFingerprint(client);
        expect(changed.triggers).not.toEqual(before.triggers);
        await client.query(`SELECT precog_environment_table('test_orders', kind => 'mutable', mutable_columns => ARRAY['status', 'filled_quantity'])`);
        expect(await catalogFingerprint(client)).toEqual(before);
      } finally {
        client.release();
      }
    });
  });

  it('bad arguments raise a clear error, with a HINT, and leave nothing behind', async () => {
    await withTestMigration(async (pool) => {
      const client = await pool.connect();
      try {
        await client.query(`
          CREATE TABLE test_undeclared (id integer PRIMARY KEY, quantity integer, row_current_ind boolean DEFAULT true, row_end_ts timestamptz,
                                        execution_environment execution_environment DEFAULT 'live');
          CREATE TABLE test_no_environment (id integer PRIMARY KEY, quantity integer);
          CREATE TABLE test_text_environment (id integer PRIMARY KEY, execution_environment text NOT NULL);`);
        const before = await catalogFingerprint(client);
        const cases: [string, string, RegExp][] = [
          [`SELECT precog_environment_table('test_no_such_table', kind => 'append_only')`, '42P01', /table public\.test_no_such_table does not exist/],
          [`SELECT precog_environment_table('test_undeclared', kind => 'immutable')`, '22023', /kind 'immutable' is unknown/],
          [`SELECT precog_environment_table('test_undeclared', kind => NULL)`, '22023', /kind NULL is unknown/],
          [`SELECT precog_environment_table('test_undeclared', kind => 'versioned')`, '22023', /a versioned table needs its business key/],
          [`SELECT precog_environment_table('test_undeclared', kind => 'versioned', business_key => '{}')`, '22023', /a versioned table needs its business key/],
          [`SELECT precog_environment_table('test_undeclared', kind => 'versioned', business_key => ARRAY['no_such_column'])`, '42703', /column no_such_column does not exist/],
          [`SELECT precog_environment_table('test_undeclared', kind => 'mutable')`, '22023', /a mutable table needs the columns that may change/],
          [`SELECT precog_environment_table('test_undeclared', kind => 'mutable', mutable_columns => ARRAY['execution_environment'])`, '22023', /execution_environment cannot be a mutable column/],
          [`SELECT precog_environment_table('test_undeclared', kind => 'mutable', mutable_columns => ARRAY['no_such_column'])`, '22023', /no_such_column cannot be a mutable column/],
          [`SELECT precog_environment_table('test_no_environment', kind => 'append_only')`, '42703', /has no execution_environment column of type execution_environment/],
          [`SELECT precog_environment_table('test_text_environment', kind => 'append_only')`, '42703', /has no execution_environment column of type execution_environment/],
        ];
        for (const [sql, code, message] of cases) {
          const error = await client.query(sql).then(() => undefined, (e: pg.DatabaseError) => e);
          expect(error, sql).toBeDefined();
          expect(error!.code, `${sql}: ${error!.message}`).toBe(code);
          expect(error!.message, sql).toMatch(/^precog_environment_table/);
          expect(error!.message, sql).toMatch(message);
          expect(error!.hint, `${sql} (a HINT says how to call it)`).toBeTruthy();
        }
        expect(await catalogFingerprint(client)).toEqual(before);
        const { rows } = await client.query(`SELECT pg_get_expr(d.adbin, d.adrelid) AS default FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                                              WHERE d.adrelid = 'test_undeclared'::regclass AND a.attname = 'execution_environment'`);
        expect(rows).toEqual([{ default: "'live'::execution_environment" }]); // untouched: it was never declared
        console.info(`precog_environment_table: ${cases.length} bad calls refused, catalog unchanged`);
      } finally {
        client.release();
      }
    });
  });
});
