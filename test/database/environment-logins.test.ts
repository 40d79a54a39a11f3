/**
 * One login per environment: a process that holds only the paper login's connection cannot reach
 * live rows, whatever raw SQL it runs on it (SET ROLE, RESET ROLE, set_config, a mode-blind read).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ensureEnvironmentLogins, LOGIN_ROLES, type LoginName } from '../../src/server/environment-logins.js';
import { testServer, withFreshDatabase } from '../support/db.js';
import { testLogins } from '../support/test-logins.js';
import { ident, loadRegistry } from '../support/environment-registry.js';
import { seedTaggedTables } from '../support/environment-seeds.js';

const { suffix: SUFFIX, loginRole } = testLogins();

describe('one login per environment', () => {
  it('creates each login a member of exactly its role, with a password kept in a file only its owner reads', async () => {
    const home = mkdtempSync(join(tmpdir(), 'precog-logins-'));
    await withFreshDatabase(async (_database, pool) => {
      const client = await pool.connect();
      try {
        const passwords = await ensureEnvironmentLogins(client, home, SUFFIX);
        expect(statSync(join(home, 'logins.json')).mode & 0o777).toBe(0o600);
        for (const name of Object.keys(LOGIN_ROLES) as LoginName[]) {
          const { rows } = await client.query<{ role: string }>(
            `SELECT g.rolname AS role FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1`,
            [loginRole(name)],
          );
          expect(rows.map((r) => r.role), name).toEqual([LOGIN_ROLES[name]]);
          expect(passwords[name]).toMatch(/^[\w-]{20,}$/);
        }
        // Again: nothing changes, the passwords stay.
        expect(await ensureEnvironmentLogins(client, home, SUFFIX)).toEqual(passwords);
        // A membership given by mistake is taken back.
        await client.query(`GRANT precog_live TO ${loginRole('paper')}`);
        await ensureEnvironmentLogins(client, home, SUFFIX);
        const { rows } = await client.query(`SELECT pg_has_role($1, 'precog_live', 'MEMBER') AS member`, [loginRole('paper')]);
        expect(rows[0].member).toBe(false);
      } finally {
        client.release();
        rmSync(home, { recursive: true, force: true });
      }
    });
  });

  it('leaves the paper login no way to live rows, even with raw SQL on its own connection', async () => {
    const home = mkdtempSync(join(tmpdir(), 'precog-logins-'));
    await withFreshDatabase(async (database, pool) => {
      const owner = await pool.connect();
      const passwords = await ensureEnvironmentLogins(owner, home, SUFFIX);
      // Rows of every environment in every tagged table, the registry's tables all.
      const registry = await loadRegistry(owner);
      await owner.query('BEGIN');
      await seedTaggedTables(owner, registry);
      await owner.query('COMMIT');
      owner.release();
      const { host, port } = testServer();
      const paper = new pg.Client({ host, port, database, user: loginRole('paper'), password: passwords.paper });
      await paper.connect();
      try {
        const refused = async (sql: string) => {
          const error = await paper.query(sql).then(() => undefined, (e: pg.DatabaseError) => e);
          expect(error?.code, sql).toBe('42501');
        };
        await refused('SET ROLE precog_live');
        await refused('SET ROLE precog_analyst');
        await refused(`SELECT set_config('role', 'precog_live', false)`);
        await refused(`INSERT INTO trades (market_id, side, price, quantity, fees, trade_source, order_type, execution_environment)
                       VALUES ('MKT-LOGINS', 'buy', 0.5, 1, 0, 'manual', 'limit', 'live')`);
        for (const statement of ['RESET ROLE', 'SET ROLE NONE', 'SET ROLE precog_paper']) {
          await paper.query(statement);
          for (const table of registry.tables.map((t) => t.name)) {
            const { rows } = await paper.query<{ environment: string }>(`SELECT DISTINCT execution_environment::text AS environment FROM ${ident(table)}`);
            expect(rows.map((r) => r.environment), `${statement}; ${table}`).toEqual(['paper']);
          }
        }
        // Shared tables: read, never written (that is precog_ingest's).
        expect((await paper.query('SELECT count(*) FROM markets')).rowCount).toBe(1);
        await refused(`UPDATE markets SET yes_price = 0.99`);
      } finally {
        await paper.end();
        rmSync(home, { recursive: true, force: true });
      }
    });
  });
});
