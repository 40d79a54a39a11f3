/**
 * Issue 5, "Roles": a real login role of the paper environment, connected on its own, cannot
 * reach live rows or switch itself to another role; and the schema keeps the guarantees for
 * every environment-tagged table and view, so a later migration cannot quietly drop them.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { seedEveryEnvironment } from '../support/environment-fixtures.js';
import { testServer, withFreshDatabase, withRollback } from '../support/db.js';

const ROLES = ['precog_live', 'precog_paper', 'precog_backtest', 'precog_analyst'];

describe('a login role of the paper environment', () => {
  it('reads and writes paper rows only, and cannot switch itself to another role', async () => {
    await withFreshDatabase(async (database, pool) => {
      const server = testServer();
      const login = `precog_test_login_${randomBytes(4).toString('hex')}`;
      const password = randomBytes(12).toString('hex');
      await pool.query(`CREATE ROLE ${login} LOGIN PASSWORD '${password}' IN ROLE precog_paper`);
      const owner = await pool.connect();
      const seed = await seedEveryEnvironment(owner, 'MKT-LOGIN').finally(() => owner.release());
      const app = new pg.Client({ host: server.host, port: server.port, database, user: login, password });
      try {
        await app.connect();
        const refusals: string[] = [];
        const refused = async (sql: string, pattern: RegExp) => {
          const error = await app.query(sql).then(() => undefined, (e: pg.DatabaseError) => e);
          expect(error, sql).toBeDefined();
          expect(error!.code, sql).toBe('42501');
          expect(error!.message, sql).toMatch(pattern);
          refusals.push(sql);
        };
        // cannot switch itself to another role, or grant itself one
        await refused('SET ROLE precog_live', /^permission denied to set role "precog_live"/);
        await refused('SET ROLE precog_backtest', /^permission denied to set role "precog_backtest"/);
        await refused('SET ROLE precog_analyst', /^permission denied to set role "precog_analyst"/);
        await refused('SET SESSION AUTHORIZATION postgres', /^permission denied to set session authorization/);
        await refused(`GRANT precog_live TO ${login}`, /^permission denied to grant role "precog_live"/);
        await refused(`ALTER ROLE ${login} BYPASSRLS`, /^permission denied to alter role/);
        await refused('ALTER TABLE trades DISABLE ROW LEVEL SECURITY', /^must be owner of table trades/);
        await refused('ALTER TABLE trades DISABLE TRIGGER USER', /^must be owner of table trades/);
        await refused(`SELECT set_config('role', 'precog_live', false)`, /^permission denied to set role "precog_live"/);
        // cannot write live rows by hand
        await refused(
          `INSERT INTO trades (market_id, side, price, quantity, trade_source, order_type, execution_environment)
           VALUES ('MKT-LOGIN', 'buy', 0.5, 1, 'manual', 'limit', 'live')`,
          /^\[environment-role\] role precog_test_login_\w+ may not write trades\.execution_environment = live rows/,
        );
        expect(refusals).toHaveLength(10);

        // sees no live row, in the table or through the live view
        const visible = await app.query(
          `SELECT (SELECT count(*) FROM trades WHERE execution_environment = 'live')::int AS live_trades,
                  (SELECT count(*) FROM live_positions)::int AS live_positions,
                  (SELECT count(*) FROM positions WHERE position_key = $1)::int AS live_versions_by_key,
                  (SELECT count(*) FROM paper_trades WHERE market_id = 'MKT-LOGIN')::int AS paper_trades`,
          [seed.live.key],
        );
        expect(visible.rows[0]).toEqual({ live_trades: 0, live_positions: 0, live_versions_by_key: 0, paper_trades: 1 });
        const update = await app.query(`UPDATE positions SET row_current_ind = false, row_end_ts = clock_timestamp() WHERE id = $1`, [seed.live.currentId]);
        expect(update.rowCount).toBe(0);

        // writes paper rows
        const paper = await app.query(
          `INSERT INTO trades (market_id, position_id, side, price, quantity, trade_source, order_type, execution_environment)
           VALUES ('MKT-LOGIN', $1, 'sell', 0.6, 1, 'manual', 'limit', 'paper') RETURNING execution_environment`,
          [seed.paper.currentId],
        );
        expect(paper.rows).toEqual([{ execution_environment: 'paper' }]);
        const { rows: [current] } = await pool.query<{ current_user: string }>('SELECT current_user');
        expect(current!.current_user).toBe(server.user);
      } finally {
        await app.end().catch(() => undefined);
        await pool.query(`DROP ROLE IF EXISTS ${login}`);
      }
    });
  });
});

describe('the schema keeps the guarantees', () => {
  it('every table with execution_environment has row-level security, no default, the guards and one policy per role', async () => {
    await withRollback(async (client) => {
      const { rows: tables } = await client.query<{ table: string; rls: boolean; forced: boolean; default: string | null }>(
        `SELECT c.relname AS table, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced, pg_get_expr(d.adbin, d.adrelid) AS default
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p') AND NOT c.relispartition
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attname = 'execution_environment' AND NOT a.attisdropped
         ORDER BY 1`,
      );
      expect(tables).toEqual([
        { table: 'positions', rls: true, forced: false, default: null },
        { table: 'trades', rls: true, forced: false, default: null },
      ]);
      for (const { table } of tables) {
        const { rows: triggers } = await client.query<{ tgname: string }>(
          `SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal AND tgenabled = 'O' ORDER BY 1`,
          [table],
        );
        expect(triggers.map((t) => t.tgname)).toEqual(
          [`${table}_environment_required`, `${table}_guard_delete`, `${table}_guard_insert`, `${table}_guard_update`, `${table}_refuse_truncate`, `${table}_role_environment`],
        );
        const { rows: policies } = await client.query<{ roles: string[] }>(
          `SELECT roles::text[] AS roles FROM pg_policies WHERE schemaname = 'public' AND tablename = $1 ORDER BY 1`,
          [table],
        );
        expect(policies.flatMap((p) => p.roles).sort()).toEqual([...ROLES].sort());
      }
      // Partitioned by environment (000008): a partition is used through its table only. No role
      // has a privilege on one (reading it directly would bypass the table's policies), and each
      // has row-level security without a policy, so even a mistaken GRANT would show no row.
      const { rows: partitions } = await client.query(
        `SELECT c.relname AS partition, c.relrowsecurity AS rls, pg_get_expr(c.relpartbound, c.oid) AS bound,
                (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
                (SELECT coalesce(array_agg(r.rolname || ' ' || x.privilege ORDER BY 1), '{}')
                   FROM unnest($1::text[]) r(rolname)
                   CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) x(privilege)
                  WHERE has_table_privilege(r.rolname, c.oid, x.privilege)) AS privileges
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent IN ('trades'::regclass, 'positions'::regclass) ORDER BY 1`,
        [ROLES],
      );
      expect(partitions).toEqual(['positions', 'trades'].flatMap((table) => [
        { partition: `${table}_backtest`, rls: true, bound: "FOR VALUES IN ('backtest')", policies: 0, privileges: [] },
        { partition: `${table}_environment_missing`, rls: true, bound: 'FOR VALUES IN (NULL)', policies: 0, privileges: [] },
        { partition: `${table}_live`, rls: true, bound: "FOR VALUES IN ('live')", policies: 0, privileges: [] },
        { partition: `${table}_paper`, rls: true, bound: "FOR VALUES IN ('paper')", policies: 0, privileges: [] },
      ]));
    });
  });

  it('the roles cannot log in, bypass row-level security or create roles', async () => {
    await withRollback(async (client) => {
      const { rows } = await client.query(
        `SELECT rolname, rolcanlogin, rolbypassrls, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1`,
        [ROLES],
      );
      expect(rows).toEqual(
        [...ROLES].sort().map((rolname) => ({ rolname, rolcanlogin: false, rolbypassrls: false, rolsuper: false, rolcreaterole: false })),
      );
    });
  });

  it('every ADR-107 view runs with the caller\'s rights, and the analyst may read every table and view', async () => {
    await withRollback(async (client) => {
      const { rows: views } = await client.query<{ view: string; options: string[] | null }>(
        `SELECT c.relname AS view, c.reloptions AS options FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'v' ORDER BY 1`,
      );
      expect(views.length).toBeGreaterThanOrEqual(7);
      for (const view of views) expect(view.options, view.view).toContain('security_invoker=true');
      const { rows: unreadable } = await client.query(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
           AND NOT has_table_privilege('precog_analyst', c.oid, 'SELECT')`,
      );
      expect(unreadable).toEqual([]);
      const { rows: writable } = await client.query(
        `SELECT c.relname, p.privilege FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p(privilege)
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v') AND has_table_privilege('precog_analyst', c.oid, p.privilege)`,
      );
      expect(writable).toEqual([]);
      // Append-only trades and kept history: no environment role may UPDATE trades or DELETE/TRUNCATE either table.
      const { rows: mutators } = await client.query(
        `SELECT r.rolname, t.name, p.privilege
         FROM unnest(ARRAY['precog_live', 'precog_paper', 'precog_backtest', 'precog_analyst']) AS r(rolname)
         CROSS JOIN (VALUES ('trades', 'UPDATE'), ('trades', 'DELETE'), ('trades', 'TRUNCATE'),
                            ('positions', 'DELETE'), ('positions', 'TRUNCATE')) AS t(name, privilege)
         CROSS JOIN LATERAL (SELECT t.privilege) AS p(privilege)
         WHERE has_table_privilege(r.rolname, t.name::regclass, p.privilege)`,
      );
      expect(mutators).toEqual([]);
    });
  });
});
