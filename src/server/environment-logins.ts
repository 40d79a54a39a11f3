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
import type pg from 'pg';
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

export const loginRole = (name: LoginName) => `${LOGIN_ROLES[name]}_app`;

/** Logins' passwords, kept in the server's data folder (never in the project). */
export function readLoginPasswords(home: string): Partial<Record<LoginName, string>> {
  const path = join(home, 'logins.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Partial<Record<LoginName, string>>) : {};
}

/** The SQL that creates (or re-passwords) one login, a member of exactly its environment's role. */
export function loginStatements(name: LoginName, password: string, exists: boolean): string[] {
  const login = loginRole(name);
  const literal = `'${password.replace(/'/g, "''")}'`;
  return exists
    ? [`ALTER ROLE ${login} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION INHERIT PASSWORD ${literal}`]
    : [
        `CREATE ROLE ${login} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION INHERIT PASSWORD ${literal}`,
        `GRANT ${LOGIN_ROLES[name]} TO ${login}`,
      ];
}

/**
 * Creates the five logins where missing (and gives each a password this folder knows), and
 * revokes any other membership a login was given, so each holds exactly one role.
 */
export async function ensureEnvironmentLogins(client: pg.ClientBase, home: string): Promise<Record<LoginName, string>> {
  const passwords = readLoginPasswords(home);
  const names = Object.keys(LOGIN_ROLES) as LoginName[];
  for (const name of names) {
    const login = loginRole(name);
    const { rows } = await client.query<{ exists: boolean }>('SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1) AS exists', [login]);
    const known = passwords[name];
    const password = known ?? randomBytes(18).toString('base64url');
    // A login this folder has no password for (another checkout's, or new) gets a fresh one.
    if (!rows[0]!.exists || !known) for (const statement of loginStatements(name, password, rows[0]!.exists)) await client.query(statement);
    const { rows: others } = await client.query<{ role: string }>(
      `SELECT g.rolname AS role FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
        WHERE u.rolname = $1 AND g.rolname <> $2`,
      [login, LOGIN_ROLES[name]],
    );
    for (const { role } of others) await client.query(`REVOKE ${role} FROM ${login}`);
    await client.query(`GRANT ${LOGIN_ROLES[name]} TO ${login}`);
    passwords[name] = password;
  }
  writeFileSync(join(home, 'logins.json'), `${JSON.stringify(passwords, null, 2)}\n`, { mode: 0o600 });
  return passwords as Record<LoginName, string>;
}

/** How to reach the database as one environment's login. */
export function loginTarget(server: ServerTarget, name: LoginName, password: string): ServerTarget {
  return { ...server, user: loginRole(name), password, origin: `${server.origin}, login ${loginRole(name)}` };
}
