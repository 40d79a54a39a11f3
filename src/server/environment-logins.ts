/**
 * One login per environment, the deployment the README recommends: `precog_live_app` is a member
 * of `precog_live` and of nothing else, so a process holding only its connection cannot reach
 * another environment's rows, whatever raw SQL it runs (`SET ROLE precog_paper` is refused: it is
 * not a member; `RESET ROLE` returns to the login itself, which the policies bind to its own
 * environment). The same for paper and backtest; `precog_analyst_app` reads every environment and
 * `precog_ingest_app` writes the shared tables.
 *
 * For the embedded server `npm start` creates them, with random passwords kept beside the
 * superuser's (mode 600); against DATABASE_URL it creates them when it may (a superuser or a
 * CREATEROLE login), and an operator can run the same statements (`loginStatements`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { ServerTarget } from './connection-string.js';

/** The group role each login belongs to, by the name `db:url --environment` takes. */
export const LOGIN_ROLES = {
  live: 'precog_live',
  paper: 'precog_paper',
  backtest: 'precog_backtest',
  analyst: 'precog_analyst',
  ingest: 'precog_ingest',
} as const;
export type LoginName = keyof typeof LOGIN_ROLES;

/** `precog_paper_app`; tests pass another suffix, so that they never touch the dev server's logins. */
export const loginRole = (name: LoginName, suffix = '_app') => `${LOGIN_ROLES[name]}${suffix}`;

/** Logins' passwords, kept in the server's data folder (never in the project). */
export function readLoginPasswords(home: string): Partial<Record<LoginName, string>> {
  const path = join(home, 'logins.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Partial<Record<LoginName, string>>) : {};
}

/** The SQL that creates (or re-passwords) one login, a member of exactly its environment's role. */
export function loginStatements(name: LoginName, password: string, exists: boolean, suffix = '_app'): string[] {
  const login = loginRole(name, suffix);
  const literal = `'${password.replace(/'/g, "''")}'`;
  return exists
    ? [`ALTER ROLE ${login} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION INHERIT PASSWORD ${literal}`]
    : [
        `CREATE ROLE ${login} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION INHERIT PASSWORD ${literal}`,
        `GRANT ${LOGIN_ROLES[name]} TO ${login}`,
      ];
}

/**
 * Creates the five logins where missing, gives each the password this folder keeps (a new one
 * the first time), and revokes any other membership a login was given, so each holds exactly one
 * role. `suffix` names them (`precog_paper<suffix>`).
 */
export async function ensureEnvironmentLogins(client: pg.ClientBase, home: string, suffix = '_app'): Promise<Record<LoginName, string>> {
  const passwords = readLoginPasswords(home);
  const names = Object.keys(LOGIN_ROLES) as LoginName[];
  const { rows: [db] } = await client.query<{ name: string }>('SELECT current_database() AS name');
  for (const name of names) {
    const login = loginRole(name, suffix);
    const { rows } = await client.query<{ exists: boolean }>('SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1) AS exists', [login]);
    const password = passwords[name] ?? randomBytes(18).toString('base64url');
    for (const statement of loginStatements(name, password, rows[0]!.exists, suffix)) await client.query(statement);
    const { rows: others } = await client.query<{ role: string }>(
      `SELECT g.rolname AS role FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
        WHERE u.rolname = $1 AND g.rolname <> $2`,
      [login, LOGIN_ROLES[name]],
    );
    for (const { role } of others) await client.query(`REVOKE ${role} FROM ${login}`);
    await client.query(`GRANT ${LOGIN_ROLES[name]} TO ${login}`);
    // Explicitly: a database made by graphile-migrate's reset has CONNECT revoked from PUBLIC.
    await client.query(`GRANT CONNECT ON DATABASE ${pg.escapeIdentifier(db!.name)} TO ${login}`);
    passwords[name] = password;
  }
  writeFileSync(join(home, 'logins.json'), `${JSON.stringify(passwords, null, 2)}\n`, { mode: 0o600 });
  return passwords as Record<LoginName, string>;
}

/** How to reach the database as one environment's login. */
export function loginTarget(server: ServerTarget, name: LoginName, password: string, suffix = '_app'): ServerTarget {
  return { ...server, user: loginRole(name, suffix), password, origin: `${server.origin}, login ${loginRole(name, suffix)}` };
}

/** Drops the logins of `suffix` (tests). */
export async function dropEnvironmentLogins(client: pg.ClientBase, suffix: string): Promise<void> {
  for (const name of Object.keys(LOGIN_ROLES) as LoginName[]) await client.query(`DROP ROLE IF EXISTS ${loginRole(name, suffix)}`);
}
