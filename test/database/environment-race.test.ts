/**
 * Two sessions racing on one business key of a versioned table from two environments (the
 * copy-forward of precog bug #662, concurrently): session A (precog_paper) inserts the first
 * version of a new key, session B (precog_live) inserts the first version of the same key and
 * waits for A on precog_environment_keys; A commits, and B must be refused, with
 * [environment-immutable] under READ COMMITTED, with the rule or a serialization failure (40001)
 * under REPEATABLE READ. Never both. The tables are every versioned table of the registry whose
 * business key does not include the environment.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServer } from '../support/db.js';
import { fresh, ident, insertRow, loadFixtures, type Fixtures, type Row, type TaggedTable } from '../support/environment-registry.js';
import { suiteDatabase } from '../support/environment-rule-cases.js';
import { seedTaggedTables } from '../support/environment-seeds.js';
import { waitForLockWait } from '../support/lock-wait.js';

const db = await suiteDatabase();
afterAll(() => db.drop());
const versioned = db.registry.tables.filter((t) => t.kind === 'versioned' && !t.businessKey.includes('execution_environment'));

let fixtures: Fixtures;
beforeAll(async () => {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await seedTaggedTables(client, db.registry);
    fixtures = await loadFixtures(client, db.registry);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
});

async function session(role: string): Promise<pg.Client> {
  const server = testServer();
  const client = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database: db.database });
  await client.connect();
  await client.query(`SET ROLE ${role}`);
  return client;
}

/** The first version of business key `key` in `environment`: a copy of the environment's current version. */
function firstVersion(table: TaggedTable, environment: 'paper' | 'live', key: Row) {
  const current = fixtures[table.name]![environment].current!;
  return insertRow(table, { ...current, ...key, [table.currentColumn!]: true, [table.endColumn!]: null });
}

describe('two sessions create one business key from two environments at the same time', () => {
  it('the registry has a versioned table whose key does not include the environment (positions)', () => {
    expect(versioned.map((t) => t.name)).toContain('positions');
  });

  for (const table of versioned) {
    for (const isolation of ['READ COMMITTED', 'REPEATABLE READ'] as const) {
      for (const ending of ['COMMIT', 'ROLLBACK'] as const) {
        it(`${table.name} (${table.businessKey.join(', ')}): paper first, live waits, paper ${ending === 'COMMIT' ? 'commits' : 'rolls back'}; live under ${isolation}`, async () => {
          const key = Object.fromEntries(table.businessKey.map((c) => [c, fresh(fixtures[table.name]!.paper.current![c])]));
          const a = await session('precog_paper');
          const b = await session('precog_live');
          try {
            await a.query('BEGIN');
            const paper = firstVersion(table, 'paper', key);
            await a.query(paper.text, paper.params);
            await b.query(`BEGIN ISOLATION LEVEL ${isolation}`);
            const { rows: [backend] } = await b.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
            const live = firstVersion(table, 'live', key);
            const racing = b.query(live.text, live.params).then(
              () => undefined,
              (error: pg.DatabaseError) => error,
            );
            await waitForLockWait(db.pool, { pid: backend!.pid });
            await a.query(ending);
            const error = await racing;
            if (ending === 'COMMIT') {
              expect(error, 'the live session must not create a live version of a paper key').toBeDefined();
              if (isolation === 'READ COMMITTED' || error!.code !== '40001') {
                expect(error!.code).toBe('P0001');
                // The refusal does not name the other environment: the live session must not learn it.
                expect(error!.message).toMatch(new RegExp(`^\\[environment-immutable\\] ${table.name}\\.execution_environment cannot change across versions of .*: it belongs to another environment or backtest run than live \\(run none\\)$`));
              }
              await b.query('ROLLBACK');
            } else {
              // The paper session gave the key up: the live one gets it.
              expect(error).toBeUndefined();
              await b.query('COMMIT');
            }
            const owner = ending === 'COMMIT' ? 'paper' : 'live';
            const where = table.businessKey.map((c, i) => `${ident(c)} = $${i + 1}`).join(' AND ');
            const values = table.businessKey.map((c) => key[c]);
            const { rows } = await db.pool.query(
              `SELECT execution_environment::text AS environment, count(*)::int AS n FROM ${ident(table.name)} WHERE ${where} GROUP BY 1`,
              values,
            );
            expect(rows).toEqual([{ environment: owner, n: 1 }]);
            const keyText = table.businessKey.length === 1 ? String(key[table.businessKey[0]!]) : JSON.stringify(values);
            const { rows: registered } = await db.pool.query<{ k: Record<string, string> }>(
              `SELECT to_jsonb(k) AS k FROM precog_environment_keys k WHERE table_name = $1 AND business_key = $2`,
              [table.name, keyText],
            );
            expect(registered.map(({ k }) => k.environment ?? k.execution_environment)).toEqual([owner]);
            console.info(`race on ${table.name} ${JSON.stringify(key)} (${isolation}, paper ${ending}): live got ${error ? `${error.code} ${error.message.slice(0, 90)}` : 'the key'}`);
          } finally {
            await a.end().catch(() => undefined);
            await b.end().catch(() => undefined);
          }
        });
      }
    }
  }
});
