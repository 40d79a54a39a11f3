/**
 * The attacker's bench for test/hardening/: a database of the test's own (migrated by the
 * project, rows seeded in every tagged table of the registry, two backtest runs), and every
 * principal an attacker may hold: the owner, each environment role taken with SET ROLE, and each
 * deployed login (src/server/environment-logins.ts). Tables, partitions and functions are read
 * from the registry and the catalog, never listed by hand, so a table or function added later is
 * attacked too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ensureEnvironmentLogins, LOGIN_ROLES, type LoginName } from '../../src/server/environment-logins.js';
import { testServer, withFreshDatabase } from '../support/db.js';
import { ident, loadRegistry, type Registry } from '../support/environment-registry.js';
import { FIXTURE_RUN, OTHER_RUN, seedTaggedTables } from '../support/environment-seeds.js';
import { testLogins } from '../support/test-logins.js';

/** The environment roles of migration 000004 (each principal below holds one, or is the owner). */
export const ROLES = ['precog_live', 'precog_paper', 'precog_backtest', 'precog_analyst'] as const;

export interface Principal {
  /** 'owner', a role ('precog_paper') or a login ('login precog_paper_test_ab12cd'). */
  name: string;
  /** The environment role it holds (undefined: the owner). */
  role?: string;
  /** A new connection as this principal (the caller ends it). */
  connect: () => Promise<pg.Client>;
}

export interface Bench {
  database: string;
  owner: pg.Pool;
  registry: Registry;
  /** The two seeded backtest runs: `run` holds the fixtures, `otherRun` a row of every table too. */
  run: string;
  otherRun: string;
  /** The owner, every role through SET ROLE, every deployed login. */
  principals: Principal[];
  /** A connection of the login holding `role` (precog_paper: the paper login). */
  login: (role: string) => Promise<pg.Client>;
}

/** Call at the top of a test file (the logins of the file are dropped after its tests). */
export function attackBench() {
  const { suffix, loginRole } = testLogins();
  return async function withBench<T>(body: (bench: Bench) => Promise<T>): Promise<T> {
    const home = mkdtempSync(join(tmpdir(), 'precog-hardening-'));
    try {
      return await withFreshDatabase(async (database, owner) => {
        const client = await owner.connect();
        let registry: Registry;
        let runs: { run: string; otherRun: string };
        let passwords: Record<LoginName, string>;
        try {
          passwords = await ensureEnvironmentLogins(client, home, suffix);
          await client.query('BEGIN');
          await seedTaggedTables(client, await loadRegistry(client));
          // The fixtures' run is the backtest login's own; the other run another process's.
          const { rows: [own] } = await client.query<{ login: string }>(
            `SELECT u.rolname AS login FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
              WHERE g.rolname = 'precog_backtest' AND u.rolname = $1`,
            [loginRole('backtest')],
          );
          if (await hasColumn(client, 'backtest_runs', 'created_by')) {
            await client.query(`UPDATE backtest_runs SET created_by = $1 WHERE label = $2`, [own!.login, FIXTURE_RUN]);
            await client.query(`UPDATE backtest_runs SET created_by = 'another_backtest_process' WHERE label = $1`, [OTHER_RUN]);
          }
          await client.query('COMMIT');
          registry = await loadRegistry(client);
          const { rows } = await client.query<{ label: string; id: string }>(`SELECT label, id::text AS id FROM backtest_runs WHERE label IN ($1, $2)`, [FIXTURE_RUN, OTHER_RUN]);
          runs = { run: rows.find((r) => r.label === FIXTURE_RUN)!.id, otherRun: rows.find((r) => r.label === OTHER_RUN)!.id };
        } finally {
          client.release();
        }
        const { host, port, user, password } = testServer();
        const connectAs = async (login: { user: string; password: string }, setup?: string) => {
          const c = new pg.Client({ host, port, database, ...login });
          await c.connect();
          if (setup) await c.query(setup);
          return c;
        };
        const logins = (Object.keys(LOGIN_ROLES) as LoginName[]).filter((n) => (ROLES as readonly string[]).includes(LOGIN_ROLES[n]));
        const principals: Principal[] = [
          { name: 'owner', connect: () => connectAs({ user, password: password ?? '' }) },
          ...ROLES.map((role) => ({ name: role, role, connect: () => connectAs({ user, password: password ?? '' }, `SET ROLE ${role}`) })),
          ...logins.map((n) => ({
            name: `login ${loginRole(n)}`,
            role: LOGIN_ROLES[n],
            connect: () => connectAs({ user: loginRole(n), password: passwords[n] }),
          })),
        ];
        const login = (role: string) => {
          const n = logins.find((l) => LOGIN_ROLES[l] === role);
          if (!n) throw new Error(`no deployed login holds ${role}`);
          return connectAs({ user: loginRole(n), password: passwords[n] });
        };
        return body({ database, owner, registry: registry!, ...runs!, principals, login });
      });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  };
}

async function hasColumn(client: pg.ClientBase, table: string, column: string): Promise<boolean> {
  const { rows } = await client.query(`SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped`, [table, column]);
  return rows.length > 0;
}

/** The error a statement raised (undefined: it succeeded). */
export async function failure(client: pg.ClientBase, sql: string, params: unknown[] = []): Promise<pg.DatabaseError | undefined> {
  return client.query(sql, params).then(
    () => undefined,
    (error: pg.DatabaseError) => error,
  );
}

/** Runs `body` in a transaction that is rolled back, whatever happens. */
export async function rolledBack<T>(client: pg.ClientBase, body: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    return await body();
  } finally {
    await client.query('ROLLBACK');
  }
}

/** The one statement under savepoint: its error, and the savepoint rolled back so the transaction goes on. */
export async function attemptIn(client: pg.ClientBase, sql: string, params: unknown[] = []): Promise<pg.DatabaseError | undefined> {
  await client.query('SAVEPOINT attack');
  const error = await failure(client, sql, params);
  await client.query('ROLLBACK TO SAVEPOINT attack');
  return error;
}

/** The one statement under savepoint, kept when it works (an attack's steps build on each other). */
export async function step(client: pg.ClientBase, sql: string, params: unknown[] = []): Promise<pg.DatabaseError | undefined> {
  await client.query('SAVEPOINT step');
  const error = await failure(client, sql, params);
  await client.query(error ? 'ROLLBACK TO SAVEPOINT step' : 'RELEASE SAVEPOINT step');
  return error;
}

/**
 * Opens the transaction's backtest run as a run scope does: through precog_enter_backtest_run()
 * where the database has it (the one door into a run), else the setting of migration 000013.
 */
export async function enterRun(client: pg.ClientBase, run: string): Promise<void> {
  const { rows: [door] } = await client.query<{ exists: boolean }>(`SELECT to_regprocedure('public.precog_enter_backtest_run(bigint)') IS NOT NULL AS exists`);
  if (door!.exists) await client.query('SELECT public.precog_enter_backtest_run($1::bigint)', [run]);
  else await client.query(`SELECT pg_catalog.set_config('precog.backtest_run', $1, true)`, [run]);
}

/** Every partition below a tagged table, at any depth (from pg_inherits: whatever the layout). */
export async function partitionsOf(client: pg.ClientBase | pg.Pool, table: string): Promise<string[]> {
  const { rows } = await client.query<{ relation: string }>(
    `WITH RECURSIVE below AS (
       SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = $1::regclass
       UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN below b ON i.inhparent = b.inhrelid)
     SELECT b.inhrelid::regclass::text AS relation FROM below b ORDER BY 1`,
    [`public.${ident(table)}`],
  );
  return rows.map((r) => r.relation);
}

/** Rows of run `run` in every tagged table, as the owner counts them. */
export async function rowsOfRun(owner: pg.Pool, registry: Registry, run: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of registry.tables) {
    const { rows: [c] } = await owner.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ident(table.name)} WHERE backtest_run_id = $1`, [run]);
    counts[table.name] = c!.n;
  }
  return counts;
}

/** Ends clients, ignoring ones already ended. */
export async function endAll(clients: pg.Client[]): Promise<void> {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
}
