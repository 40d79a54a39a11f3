/**
 * A hostile login plants objects in public that a guard or a query might resolve to (the
 * CVE-2018-1058 pattern). Migration 000012 revokes CREATE on public, so a role cannot plant
 * anything; and where an operator has granted it again (every database created before
 * PostgreSQL 15 keeps it for PUBLIC), what a role plants changes nothing: the guards resolve only
 * to pg_catalog and to schema-qualified objects, and the queries qualify what would otherwise
 * prefer a planted overload.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openPosition } from '../../generated/positions.js';
import { Decimal } from '../../src/index.js';
import { withFreshDatabase } from '../support/db.js';
import { ACTORS, attempt, seedEveryEnvironment, type Actor } from '../support/environment-fixtures.js';

const ROLES = ACTORS.filter((actor): actor is Exclude<Actor, 'owner'> => actor !== 'owner');

/** Shadowing objects: a text overload of nextval, and an = on execution_environment that is always true. */
const PLANT = [
  `CREATE FUNCTION public.nextval(text) RETURNS bigint LANGUAGE sql AS $$ SELECT 424242::bigint $$`,
  `CREATE FUNCTION public.planted_equal(execution_environment, execution_environment) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$`,
  `CREATE OPERATOR public.= (LEFTARG = execution_environment, RIGHTARG = execution_environment, FUNCTION = public.planted_equal)`,
  `CREATE FUNCTION public.pg_partition_root(regclass) RETURNS regclass LANGUAGE sql AS $$ SELECT 'public.markets'::regclass $$`,
];

async function asRole<T>(client: pg.ClientBase, role: string, body: () => Promise<T>): Promise<T> {
  await client.query(`SET LOCAL ROLE ${role}`);
  try {
    return await body();
  } finally {
    await client.query('RESET ROLE');
  }
}

describe('objects planted in public', () => {
  it('cannot be created by any role: CREATE on public is revoked', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        for (const role of [...ROLES, 'precog_ingest']) {
          const result = await attempt(client, role as Actor, PLANT[0]!);
          expect(result.error?.code, role).toBe('42501');
          expect(result.error?.message, role).toBe('permission denied for schema public');
        }
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    });
  });

  it('change nothing where CREATE on public is granted again, planted by each role', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('GRANT CREATE ON SCHEMA public TO PUBLIC');
        const seed = await seedEveryEnvironment(client, 'MKT-SHADOW');
        for (const role of ROLES) {
          await client.query('SAVEPOINT planted');
          await asRole(client, role, async () => {
            for (const statement of PLANT) await client.query(statement);
          });
          const attacker = role === 'precog_analyst' ? 'paper' : role.replace('precog_', '');
          if (attacker !== 'live') {
            // A version of a live position's key in the attacker's environment: still refused.
            const version = await attempt(
              client,
              role,
              `INSERT INTO positions (position_key, market_id, side, entry_price, quantity, current_price, status, execution_environment)
               VALUES ($1, 'MKT-SHADOW', 'YES', 0.4, 10, 0.4, 'open', $2)`,
              [seed.live.key, attacker],
              seed.backtest.run, // precog_backtest writes in a run, as its scope does
            );
            expect(version.error?.message, role).toMatch(role === 'precog_analyst' ? /permission denied/ : /^\[environment-immutable\] /);
            // A live trade from the attacker's login: still refused.
            const trade = await attempt(
              client,
              role,
              `INSERT INTO trades (market_id, side, price, quantity, fees, trade_source, order_type, execution_environment)
               VALUES ('MKT-SHADOW', 'buy', 0.4, 1, 0, 'manual', 'limit', 'live')`,
            );
            expect(trade.error?.code, role).toBe('42501');
            // The environment of a live row still cannot change, even for the owner.
            const moved = await attempt(client, 'owner', `UPDATE trades SET execution_environment = 'paper' WHERE id = $1 AND execution_environment = 'live'`, [
              seed.live.tradeId,
            ]);
            expect(moved.error?.message, role).toMatch(/^\[environment-immutable\] /);
          }
          // The live application's open still takes its key from the real sequence.
          const opened = await asRole(client, 'precog_live', () =>
            openPosition.run(
              { market_id: 'MKT-SHADOW', side: 'YES', entry_price: new Decimal('0.5'), quantity: 1, fees: new Decimal('0'), execution_environment: 'live' },
              client,
            ),
          );
          expect(opened.position_key, role).toMatch(/^POS-\d+$/);
          expect(opened.position_key, role).not.toBe('POS-424242');
          await client.query('ROLLBACK TO SAVEPOINT planted');
        }
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    });
  });
});
