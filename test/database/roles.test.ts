/**
 * Issue 5, "Roles": a real login role of the paper environment, connected on its own, cannot
 * reach live rows or switch itself to another role; and the schema keeps the guarantees for
 * every environment-tagged table and view, so a later migration cannot quietly drop them.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { seedEveryEnvironment } from '../support/environment-fixtures.js';
import { loadRegistry } from '../support/environment-registry.js';
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
        // PostgreSQL 15 words it "must have admin option on role": the SQLSTATE is the same.
        await refused(`GRANT precog_live TO ${login}`, /^(permission denied to grant role|must have admin option on role) "precog_live"/);
        await refused(`ALTER ROLE ${login} BYPASSRLS`, /^(permission denied to alter role|must be superuser to change bypassrls attribute)/); // 17 | 15
        await refused('ALTER TABLE trades DISABLE ROW LEVEL SECURITY', /^must be owner of table trades/);
        await refused('ALTER TABLE trades DISABLE TRIGGER USER', /^must be owner of table trades/);
        await refused(`SELECT set_config('role', 'precog_live', false)`, /^permission denied to set role "precog_live"/);
        // cannot write live rows by hand
        await refused(
          `INSERT INTO trades (market_id, side, price, quantity, trade_source, order_type, execution_environment)
           VALUES ('MKT-LOGIN', 'buy', 0.5, 1, 'manual', 'limit', 'live')`,
          /^new row violates row-level security policy "\[environment-role\] paper rows only" for table "trades"$/,
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
  it('every table with execution_environment is declared in the registry, with row-level security, no default, its guards and one policy per role', async () => {
    await withRollback(async (client) => {
      const registry = await loadRegistry(client);
      const { rows: tables } = await client.query<{ table: string; rls: boolean; forced: boolean; default: string | null }>(
        `SELECT c.relname AS table, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced, pg_get_expr(d.adbin, d.adrelid) AS default
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p') AND NOT c.relispartition
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attname = 'execution_environment' AND NOT a.attisdropped AND a.atttypid = 'execution_environment'::regtype
         ORDER BY 1`,
      );
      // No tagged table outside the registry: a table with the column but no declaration has none of the guarantees.
      expect(tables).toEqual(registry.tables.map((t) => ({ table: t.name, rls: true, forced: false, default: null })));
      expect(registry.tables.map((t) => t.name)).toEqual(expect.arrayContaining(['positions', 'trades']));
      for (const table of registry.tables) {
        const { rows: triggers } = await client.query<{ tgname: string }>(
          `SELECT DISTINCT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal AND tgenabled = 'O' ORDER BY 1`,
          [table.name],
        );
        const expected = [
          'backtest_run_known',
          'environment_update_guard',
          'live_history_kept_truncate',
          ...(table.kind === 'versioned' && !table.businessKey.includes('execution_environment') ? ['environment_key_guard'] : []),
          ...([...registry.references, ...registry.sharedReferences].some((r) => r.table === table.name) ? ['environment_references'] : []),
          ...([...registry.references, ...registry.sharedReferences].some((r) => r.table === table.name && table.mutableColumns.some((c) => r.columns.includes(c)))
            ? ['environment_references_update']
            : []),
          ...(registry.references.some((r) => r.referencedTable === table.name) ? ['environment_referenced'] : []),
          ...(table.columns.some((c) => c.generated && table.primaryKey.includes(c.name)) ? ['environment_ids', 'environment_ids_mark'] : []),
        ].sort();
        expect(triggers.map((t) => t.tgname), table.name).toEqual(expected);
        const { rows: policies } = await client.query<{ roles: string[] }>(
          `SELECT roles::text[] AS roles FROM pg_policies WHERE schemaname = 'public' AND tablename = $1 AND policyname LIKE '[environment-role] %'`,
          [table.name],
        );
        expect(policies.flatMap((p) => p.roles).sort(), table.name).toEqual(ROLES.filter((r) => r !== 'precog_analyst').sort());
      }
      // Partitioned by environment: a partition is used through its table only. No role has a
      // privilege on one (reading it directly would bypass the table's policies), and each has
      // row-level security without a policy, so even a mistaken GRANT would show no row.
      const { rows: partitions } = await client.query(
        `SELECT c.relname AS partition, c.relrowsecurity AS rls, pg_get_expr(c.relpartbound, c.oid) AS bound,
                (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
                (SELECT coalesce(array_agg(r.rolname || ' ' || x.privilege ORDER BY 1), '{}')
                   FROM unnest($1::text[]) r(rolname)
                   CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) x(privilege)
                  WHERE has_table_privilege(r.rolname, c.oid, x.privilege)) AS privileges
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = ANY (SELECT format('public.%I', d.table_name)::regclass FROM precog_environment_tables d) ORDER BY 1`,
        [ROLES],
      );
      expect(partitions).toEqual(
        registry.tables
          .flatMap((table) => [
            { partition: table.partitions.backtest, rls: true, bound: "FOR VALUES IN ('backtest')", policies: 0, privileges: [] },
            { partition: table.partitions.missing, rls: true, bound: 'FOR VALUES IN (NULL)', policies: 0, privileges: [] },
            { partition: table.partitions.live, rls: true, bound: "FOR VALUES IN ('live')", policies: 0, privileges: [] },
            { partition: table.partitions.paper, rls: true, bound: "FOR VALUES IN ('paper')", policies: 0, privileges: [] },
          ])
          .sort((a, b) => (a.partition < b.partition ? -1 : 1)),
      );
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
      // Every table and view but the registry's own (precog_environment_*: read by the owner's tools, granted to nobody)
      // the bulk loads in progress (precog_backtest_loads: written by the load functions, granted to nobody), and the
      // state guards keep where no caller reaches (precog_identity_marks, precog_backtest_sessions, precog_truncate_permits: Hardening II).
      const { rows: unreadable } = await client.query(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
           AND c.relname NOT LIKE 'precog\\_environment\\_%' AND c.relname NOT IN ('precog_backtest_loads', 'precog_identity_marks', 'precog_backtest_sessions', 'precog_truncate_permits')
           AND NOT has_table_privilege('precog_analyst', c.oid, 'SELECT')`,
      );
      expect(unreadable).toEqual([]);
      const { rows: registryGrants } = await client.query(
        `SELECT c.relname, r.rolname, x.privilege FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         CROSS JOIN unnest($1::text[]) r(rolname) CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) x(privilege)
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND (c.relname LIKE 'precog\\_environment\\_%' OR c.relname IN ('precog_backtest_loads', 'precog_identity_marks', 'precog_backtest_sessions', 'precog_truncate_permits'))
           AND has_table_privilege(r.rolname, c.oid, x.privilege)`,
        [ROLES],
      );
      expect(registryGrants).toEqual([]);
      const { rows: writable } = await client.query(
        `SELECT c.relname, p.privilege FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p(privilege)
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v') AND has_table_privilege('precog_analyst', c.oid, p.privilege)`,
      );
      expect(writable).toEqual([]);
      // Kept history, from the registry: no role may DELETE or TRUNCATE a tagged table, nor UPDATE an append-only one.
      const { rows: mutators } = await client.query(
        `SELECT r.rolname, d.table_name, p.privilege
         FROM unnest(ARRAY['precog_live', 'precog_paper', 'precog_backtest', 'precog_analyst']) AS r(rolname)
         CROSS JOIN precog_environment_tables d
         CROSS JOIN unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE']) AS p(privilege)
         WHERE (p.privilege <> 'UPDATE' OR d.kind = 'append_only')
           AND has_table_privilege(r.rolname, format('public.%I', d.table_name)::regclass, p.privilege)`,
      );
      expect(mutators).toEqual([]);
    });
  });
});
