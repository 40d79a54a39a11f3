/**
 * The head schema checked against the model: the guarantees of a tagged table are a function of
 * its declaration (precog_environment_table, db/framework/), so for every row of
 * precog_environment_tables the catalog must hold exactly what the declaration installs, with
 * the meaning it installs. Read from a database built from the head (in the review, inside the
 * transaction that applied the change; in `npm run check`, a fresh database), never from text.
 *
 *   registry     a table removed from precog_environment_tables, a weaker kind, a table with an
 *                execution_environment column that is not declared
 *   column       execution_environment of the enum type, NOT NULL, no default
 *   partitions   one per environment value (and one for NULL), row-level security on each
 *   guards       every trigger and index the declaration installed, as it recorded them in
 *                precog_environment_manifest (manifest.ts); the guard functions still refuse
 *                (probed on a scratch table)
 *   policies     a RESTRICTIVE "[environment-role] <env> rows only" per environment, nothing else
 *                that admits rows to an environment role
 *   grants       per kind: SELECT, INSERT (+ UPDATE of the columns that may change); none on partitions
 *   roles        no BYPASSRLS or SUPERUSER, no membership in another environment's role
 *   views        reading a tagged table: security_invoker, or granted only to precog_analyst
 *   functions    SECURITY DEFINER reading a tagged table (through views and functions: reach.ts),
 *                executable by an environment role
 *   references   a foreign key from an untagged table into a tagged one (a run's delete and the purge
 *                fail), one added to a tagged table after its declaration, a recorded reference
 *                between declared tables that does not carry the environment
 */
import type pg from 'pg';
import { type Declaration, readDeclarations } from '../domain/environment.js';
import { frameworkFiles } from '../framework/files.js';
import { manifestFindings } from './manifest.js';
import { type Finding, finding } from '../lint/finding.js';
import { readReach } from './reach.js';

type Client = Pick<pg.ClientBase, 'query'>;

export type { Declaration };

export const ENVIRONMENT_ROLES = (environments: string[]) => environments.map((env) => `precog_${env}`);
const COMMAND: Record<string, string> = { '*': 'ALL', r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE' };
const KIND_STRENGTH: Record<string, number> = { append_only: 3, versioned: 2, mutable: 1 };
/**
 * SECURITY DEFINER functions that read tagged tables but return none of their rows: the purge
 * and the run operations (counts and run rows), and the bulk load's checks (migration 000013).
 */
const EXEMPT_DEFINERS = new Set(['purge_backtest_data', 'purge_backtest_run', 'create_backtest_run', 'precog_backtest_load_begin', 'precog_backtest_load_finish']);
/**
 * The [backtest-run] policy (migrations 000013, 000018): precog_backtest reads the rows of its
 * transaction's run while the run exists, and writes rows of that run only.
 */
const RUN_POLICY = "[backtest-run] rows of the transaction's run only";
// The run the transaction entered (precog_enter_backtest_run(), Hardening II): no setting opens a run.
const RUN_CHECK = '(backtest_run_id = ( SELECT precog_backtest_run() AS precog_backtest_run))';
const RUN_QUAL = '(backtest_run_id = ( SELECT r.id FROM backtest_runs r WHERE (r.id = ( SELECT precog_backtest_run() AS precog_backtest_run))))';
/** A policy expression as PostgreSQL prints it, with its line breaks and indentation as single spaces. */
const oneLine = (expression: string | null) => expression?.replace(/\s+/g, ' ') ?? null;
/** The [backtest-run-deleted] policy (000018): the analyst does not see the rows of a deleted run. */
const DELETED_POLICY = '[backtest-run-deleted] rows of deleted runs are gone';
const DELETED_QUAL = '((backtest_run_id IS NULL) OR (NOT (backtest_run_id IN ( SELECT d.backtest_run_id FROM precog_backtest_runs_deleted d))))';
const declare = (d: Declaration) => {
  const args = [`'${d.table_name}'`, `kind => '${d.kind}'`];
  if (d.kind === 'versioned') args.push(`business_key => ARRAY[${d.business_key.map((c) => `'${c}'`).join(', ')}]`);
  if (d.kind === 'mutable') args.push(`mutable_columns => ARRAY[${d.mutable_columns.map((c) => `'${c}'`).join(', ')}]`);
  return `SELECT precog_environment_table(${args.join(', ')});`;
};

/** The registry (src/domain/environment.ts reads it). */
export const readRegistry = readDeclarations;

/** The file of db/framework that defines a function (its one source). */
function frameworkSource(fn: string): string {
  return frameworkFiles().find((f) => f.path.endsWith(`/${fn}.sql`))?.path ?? 'db/framework/';
}

async function savepoint<T>(client: Client, body: () => Promise<T>): Promise<T | Error> {
  await client.query('SAVEPOINT precog_probe');
  try {
    return await body();
  } catch (error) {
    return error as Error;
  } finally {
    await client.query('ROLLBACK TO SAVEPOINT precog_probe');
    await client.query('RELEASE SAVEPOINT precog_probe');
  }
}

/**
 * Every invariant of the head schema. `client` must be inside a transaction (probes use
 * savepoints and roll back). `base` is the registry before the change, when there is one.
 */
export async function guaranteeFindings(client: Client, base?: Declaration[]): Promise<Finding[]> {
  const points: Finding[] = [];
  const push = (...args: Parameters<typeof finding>) => points.push(finding(...args));
  const q = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => (await client.query<T>(sql, params)).rows;

  const registry = await readRegistry(client);
  const declared = new Map(registry.map((d) => [d.table_name, d]));
  const environments = (await q<{ v: string }>(
    `SELECT e.enumlabel AS v FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = 'execution_environment' AND t.typnamespace = 'public'::regnamespace ORDER BY e.enumsortorder`,
  )).map((r) => r.v);
  const envRoles = ENVIRONMENT_ROLES(environments);

  // Registry: base vs head.
  for (const before of base ?? []) {
    const after = declared.get(before.table_name);
    if (!after) {
      const stillThere = (await q(`SELECT 1 FROM pg_class WHERE oid = to_regclass($1)`, [`public.${before.table_name}`])).length > 0;
      push('guarantee/undeclared', before.table_name,
        `${before.table_name} is no longer in precog_environment_tables${stillThere ? ' (the table is still there)' : ' (the table is dropped)'}: purge_backtest_data() no longer empties its backtest rows, codegen no longer brands its ids, and the lint, docs and database tests no longer check its guarantees`,
        stillThere ? `keep it declared: \`${declare(before)}\`` : 'dropping an environment-tagged table loses its live history: archive it first and say so in the pull request');
      continue;
    }
    if (KIND_STRENGTH[after.kind]! < KIND_STRENGTH[before.kind]!) {
      push('guarantee/weaker-kind', after.table_name,
        `declared ${after.kind} (was ${before.kind}): ${before.kind === 'append_only' ? 'recorded facts become updatable ([append-only] no longer refuses an UPDATE)' : 'superseded versions and current versions become updatable ([version-history-immutable], [version-immutable] no longer refuse)'}`,
        `keep \`${declare(before)}\`; record a correcting row or a new version instead of updating`);
    } else if (after.kind === before.kind && after.kind === 'mutable') {
      const added = after.mutable_columns.filter((c) => !before.mutable_columns.includes(c));
      if (added.length) {
        push('guarantee/weaker-kind', after.table_name, `mutable columns widened by ${added.join(', ')}: an UPDATE may now change them ([immutable-column] no longer refuses)`,
          `check that ${added.join(', ')} are state, not facts; otherwise keep \`${declare(before)}\``);
      }
    } else if (after.kind === before.kind && after.kind === 'versioned' && after.business_key.join() !== before.business_key.join()) {
      push('guarantee/weaker-kind', after.table_name, `business key ${before.business_key.join(', ')} → ${after.business_key.join(', ')}: which rows are versions of one thing changes (one current version per key)`,
        `keep business_key => ARRAY[${before.business_key.map((c) => `'${c}'`).join(', ')}] unless the data was migrated to the new key`);
    }
  }

  // Tables with an environment column that are not declared (partitions are their table's).
  for (const row of await q<{ t: string; type: string }>(`
      SELECT c.relname AS t, format_type(a.atttypid, a.atttypmod) AS type FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
       WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
         AND a.attname = 'execution_environment' AND NOT a.attisdropped ORDER BY 1`)) {
    if (row.type !== 'execution_environment') {
      push('convention/environment-column-type', `${row.t}.execution_environment`,
        `execution_environment is ${row.type}, not the enum execution_environment: a CHECK or a typo admits values no partition, role or policy knows`,
        'declare the column `execution_environment execution_environment NOT NULL` (no default)');
    }
    if (!declared.has(row.t) && !(base ?? []).some((d) => d.table_name === row.t)) {
      // What is wrong with it, each said: the declaration would fix every one.
      const [column] = await q<{ notnull: boolean; default: string | null; guarded: boolean; rls: boolean }>(`
          SELECT a.attnotnull AS notnull, pg_get_expr(d.adbin, d.adrelid) AS default, c.relrowsecurity AS rls,
                 EXISTS (SELECT FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal AND g.tgenabled <> 'D' AND (g.tgtype & 16) <> 0) AS guarded
            FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'execution_environment'
            LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
           WHERE c.oid = to_regclass($1)`, [`public.${row.t}`]);
      const wrong = [
        column?.default ? `its execution_environment has DEFAULT ${column.default} (a row written without an environment silently becomes ${/'(\w+)'/.exec(column.default)?.[1] ?? 'that'}: how paper positions became live ones, #662)` : '',
        column && !column.notnull ? 'its execution_environment is nullable (a row of no environment)' : '',
        column && !column.guarded ? 'nothing refuses an UPDATE of execution_environment (a row can change environment)' : '',
        column && !column.rls ? 'no row-level security: every environment role reads every row' : '',
      ].filter(Boolean);
      push('guarantee/undeclared-tagged-table', row.t,
        `${row.t} has an execution_environment column but is not declared: ${wrong.length ? `${wrong.join('; ')}; and ` : ''}no guard, no [environment-role] policy, no partition, not purged`,
        `declare it after CREATE TABLE: \`SELECT precog_environment_table('${row.t}', kind => 'append_only' | 'versioned' | 'mutable', ...)\``);
    }
  }

  // Environment values: each needs its role, and a partition and policy on every tagged table.
  // A value without its role is one point (listing the tables), not one per table and rule.
  const unserved = new Set<string>();
  for (const env of environments) {
    if ((await q(`SELECT 1 FROM pg_roles WHERE rolname = $1`, [`precog_${env}`])).length) continue;
    unserved.add(env);
    const without = [];
    for (const d of registry) {
      const has = await q(`SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1) AND pg_get_expr(c.relpartbound, c.oid) = $2`,
        [`public.${d.table_name}`, `FOR VALUES IN ('${env}')`]);
      if (!has.length) without.push(d.table_name);
    }
    push('guarantee/environment-value', `execution_environment '${env}'`,
      `environment '${env}' has no role precog_${env}${without.length ? `, and ${without.join(', ')} have no partition and no [environment-role] policy for it: a '${env}' row cannot be written, and nothing says who may read one` : ''}; importers with exhaustive switches over ExecutionEnvironment break`,
      `a new environment is an ADR: create role precog_${env}, then declare every tagged table again (${registry.map((d) => d.table_name).join(', ')}) so each gets its partition, policy and grants`);
  }
  const servedRoles = envRoles.filter((role) => !unserved.has(role.slice('precog_'.length)));

  // Roles: attributes and memberships.
  const roleRows = await q<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean; member_of: string[] }>(`
      SELECT r.rolname, r.rolsuper, r.rolbypassrls,
             coalesce((SELECT array_agg(g.rolname::text ORDER BY g.rolname) FROM pg_roles g WHERE g.oid <> r.oid AND pg_has_role(r.oid, g.oid, 'MEMBER')), '{}') AS member_of
        FROM pg_roles r WHERE r.rolname = ANY ($1) ORDER BY r.rolname`, [[...envRoles, 'precog_analyst']]);
  for (const role of roleRows) {
    if (role.rolsuper || role.rolbypassrls) {
      push('guarantee/role-attributes', role.rolname,
        `${role.rolname} is ${role.rolsuper ? 'SUPERUSER' : 'BYPASSRLS'}: row-level security no longer applies to it, so it reads and writes rows of every environment`,
        `ALTER ROLE ${role.rolname} NOSUPERUSER NOBYPASSRLS; a job that needs every environment uses precog_analyst (read-only) or db.crossEnvironment`);
    }
    const isEnv = envRoles.includes(role.rolname);
    const others = role.member_of.filter((g) => envRoles.includes(g) || (isEnv && g === 'precog_analyst'));
    if (others.length) {
      push('guarantee/role-membership', role.rolname,
        `${role.rolname} is a member of ${others.join(', ')}: it gains their grants${isEnv ? ', and a login holding two environment roles sees no rows at all (the restrictive policies are ANDed) or, through SET ROLE, the other environment\'s rows' : ''}`,
        `REVOKE ${others.join(', ')} FROM ${role.rolname}; a login is granted exactly one environment role`);
    }
    const superiors = role.member_of.filter((g) => !envRoles.includes(g) && g !== 'precog_analyst');
    for (const g of superiors) {
      const [attrs] = await q<{ rolsuper: boolean; rolbypassrls: boolean }>(`SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1`, [g]);
      if (attrs && (attrs.rolsuper || attrs.rolbypassrls)) {
        push('guarantee/role-membership', role.rolname, `${role.rolname} is a member of ${g}, which bypasses row-level security`, `REVOKE ${g} FROM ${role.rolname}`);
      }
    }
  }

  // Per declared table.
  for (const d of registry) {
    const t = d.table_name;
    const [rel] = await q<{ oid: number; relrowsecurity: boolean; relkind: string }>(`SELECT oid::int, relrowsecurity, relkind FROM pg_class WHERE oid = to_regclass($1)`, [`public.${t}`]);
    if (!rel) {
      push('guarantee/undeclared', t, `${t} is declared in precog_environment_tables but the table is gone: purge_backtest_data() fails`, `remove its registry row together with the table only if its history is archived`);
      continue;
    }
    const [column] = await q<{ type: string; attnotnull: boolean; has_default: boolean }>(`
        SELECT format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, a.atthasdef AS has_default FROM pg_attribute a
         WHERE a.attrelid = $1 AND a.attname = 'execution_environment' AND NOT a.attisdropped`, [rel.oid]);
    if (column && (!column.attnotnull || column.has_default)) {
      push('guarantee/environment-required', `${t}.execution_environment`,
        `${t}.execution_environment ${column.has_default ? 'has a DEFAULT (a silent default is how paper positions became live ones, #662)' : 'is nullable'}`,
        `drop it: \`ALTER TABLE ${t} ALTER COLUMN execution_environment DROP DEFAULT, ALTER COLUMN execution_environment SET NOT NULL\`, or declare again: \`${declare(d)}\``);
    }
    if (!rel.relrowsecurity) {
      push('guarantee/row-security', t, `row-level security is disabled on ${t}: the [environment-role] policies no longer apply, every environment role sees every row`, `ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY (or declare again: \`${declare(d)}\`)`);
    }

    // Partitions.
    const partitions = new Map((await q<{ bound: string; name: string; rls: boolean }>(`
        SELECT pg_get_expr(c.relpartbound, c.oid) AS bound, c.relname AS name, c.relrowsecurity AS rls FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1`, [rel.oid]))
      .map((p) => [p.bound, p]));
    const partitionOf = (env: string | null) => partitions.get(env === null ? 'FOR VALUES IN (NULL)' : `FOR VALUES IN ('${env}')`);
    for (const env of [...environments.filter((e) => !unserved.has(e)), null]) {
      const p = partitionOf(env);
      if (!p) {
        push('guarantee/partition', t, `${t} has no partition for ${env === null ? 'a NULL environment (where [environment-required] names the rule)' : `'${env}'`}: ${env === null ? 'a missing environment is refused namelessly' : `a '${env}' row cannot be written, and purge and the policies do not cover it`}`,
          `declare it again after the change: \`${declare(d)}\``);
      } else if (!p.rls) {
        push('guarantee/row-security', p.name, `row-level security is disabled on partition ${p.name}: a GRANT on it would show its rows to anyone`, `ALTER TABLE ${p.name} ENABLE ROW LEVEL SECURITY`);
      }
    }

    // Guard triggers and the indexes the declaration installed, as it recorded them.
    points.push(...(await manifestFindings(client, t, declare(d))));

    // Policies.
    const policies = await q<{ name: string; permissive: boolean; cmd: string; roles: string[]; qual: string | null; check: string | null }>(`
        SELECT p.polname AS name, p.polpermissive AS permissive, p.polcmd AS cmd,
               CASE WHEN p.polroles = '{0}' THEN ARRAY['public'] ELSE ARRAY(SELECT rolname::text FROM pg_roles WHERE oid = ANY (p.polroles)) END AS roles,
               pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS check
          FROM pg_policy p WHERE p.polrelid = $1 ORDER BY p.polname`, [rel.oid]);
    const installedNames = new Set(['environment_roles', 'analyst_reads_all', RUN_POLICY, DELETED_POLICY, ...environments.map((e) => `[environment-role] ${e} rows only`)]);
    const runs = policies.find((p) => p.name === RUN_POLICY);
    const hasRuns = await q<{ ok: boolean }>(`SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = $1 AND attname = 'backtest_run_id' AND NOT attisdropped) AS ok`, [rel.oid]);
    if (hasRuns[0]?.ok && (!runs || runs.permissive || oneLine(runs.qual) !== RUN_QUAL || runs.check !== RUN_CHECK || runs.cmd !== '*' || runs.roles.join() !== 'precog_backtest')) {
      push('guarantee/backtest-run-policy', `${t}."${RUN_POLICY}"`,
        runs ? `the [backtest-run] policy on ${t} is changed (${runs.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'} TO ${runs.roles.join(', ')} USING ${runs.qual ?? 'none'}): precog_backtest reads or writes rows of other runs`
          : `the [backtest-run] policy on ${t} is dropped: precog_backtest reads and writes every run's rows`,
        `declare the table again (\`${declare(d)}\`): it rebuilds the RESTRICTIVE policy on the run the transaction entered`);
    }
    const deleted = policies.find((p) => p.name === DELETED_POLICY);
    if (hasRuns[0]?.ok && (!deleted || deleted.permissive || oneLine(deleted.qual) !== DELETED_QUAL || deleted.cmd !== '*' || deleted.roles.join() !== 'precog_analyst')) {
      push('guarantee/backtest-run-deleted-policy', `${t}."${DELETED_POLICY}"`,
        `the [backtest-run-deleted] policy on ${t} is ${deleted ? 'changed' : 'dropped'}: precog_analyst reads the rows of deleted backtest runs until the sweep deletes them`,
        `declare the table again (\`${declare(d)}\`): it rebuilds the RESTRICTIVE policy on precog_backtest_runs_deleted`);
    }
    for (const env of environments.filter((e) => !unserved.has(e))) {
      const role = `precog_${env}`;
      const own = `(execution_environment = '${env}'::execution_environment)`;
      const mine = policies.filter((p) => !p.permissive && (p.roles.includes(role) || p.roles.includes('public')) && p.cmd === '*');
      const holds = mine.some((p) => p.qual === own && p.check === own);
      if (!holds) {
        const named = policies.find((p) => p.name === `[environment-role] ${env} rows only`);
        push('guarantee/environment-role-policy', `${t}."[environment-role] ${env} rows only"`,
          named ? `the [environment-role] policy of ${role} on ${t} is ${named.permissive ? 'PERMISSIVE' : 'widened'} (USING ${named.qual ?? 'none'}${named.check ? `, WITH CHECK ${named.check}` : ''}${named.cmd !== '*' ? `, FOR ${COMMAND[named.cmd]}` : ''}): ${role} reads or writes rows other than ${env}`
            : `the [environment-role] policy of ${role} on ${t} is dropped: ${role} reads and writes rows of every environment`,
          `declare the table again (\`${declare(d)}\`): it rebuilds the RESTRICTIVE policy USING/WITH CHECK ${own}`);
      }
    }
    for (const p of policies.filter((p) => !installedNames.has(p.name))) {
      const reaches = p.roles.filter((r) => r === 'public' || envRoles.includes(r) || r === 'precog_analyst');
      if (!reaches.length) continue;
      push('guarantee/extra-policy', `${t}."${p.name}"`,
        `policy "${p.name}" on ${t} is not one the declaration installs: ${p.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'} FOR ${COMMAND[p.cmd]} TO ${p.roles.join(', ')} USING (${p.qual ?? 'true'})${p.qual === 'true' ? ' admits every row' : ''}; the next declaration drops it`,
        'drop it; what an environment role may see is the declaration\'s [environment-role] policy, nothing else');
    }
    for (const [name, roles, cmd] of [['environment_roles', servedRoles, '*'], ['analyst_reads_all', ['precog_analyst'], 'r']] as const) {
      const p = policies.find((x) => x.name === name);
      if (p && (p.cmd !== cmd || p.roles.slice().sort().join() !== [...roles].sort().join() || !p.permissive)) {
        push('guarantee/extra-policy', `${t}.${name}`, `policy ${name} on ${t} changed: ${p.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'} FOR ${COMMAND[p.cmd]} TO ${p.roles.join(', ')}`, `declare the table again (\`${declare(d)}\`)`);
      }
    }

    // Grants.
    const grants = await q<{ relname: string; grantee: string; privileges: string[] }>(`
        SELECT c.relname, CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END AS grantee, array_agg(x.privilege_type::text ORDER BY x.privilege_type) AS privileges
          FROM pg_class c, aclexplode(c.relacl) x
         WHERE (c.oid = $1 OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1)) AND x.grantee <> c.relowner
         GROUP BY 1, 2`, [rel.oid]);
    const allowed = (relname: string, grantee: string): string[] =>
      relname !== t ? [] : envRoles.includes(grantee) ? ['INSERT', 'SELECT'] : grantee === 'precog_analyst' ? ['SELECT'] : [];
    for (const g of grants) {
      const extra = g.privileges.filter((p) => !allowed(g.relname, g.grantee).includes(p));
      if (extra.length) {
        push('guarantee/grants', g.relname === t ? t : g.relname,
          `${extra.join(', ')} granted to ${g.grantee} on ${g.relname}${g.relname !== t ? ' (a partition: read and written through its table only)' : ''}${extra.includes('DELETE') || extra.includes('TRUNCATE') ? ': rows can be deleted outside purge_backtest_data()' : extra.includes('UPDATE') ? `: every column becomes updatable, not only what the ${d.kind} kind lets change` : ''}`,
          `REVOKE ${extra.join(', ')} ON ${g.relname} FROM ${g.grantee} (the declaration's grants are per kind)`);
      }
    }
  }

  // Views and SECURITY DEFINER functions that read tagged tables.
  const tagged = [...declared.keys()];
  if (tagged.length) {
    const views = await q<{ name: string; options: string[] | null; readers: string[] }>(`
        WITH RECURSIVE reads(view, tbl) AS (
          SELECT DISTINCT r.ev_class, d.refobjid FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
           WHERE d.refobjid <> r.ev_class
          UNION SELECT reads.view, d.refobjid FROM reads JOIN pg_rewrite r ON r.ev_class = reads.tbl JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid WHERE d.refobjid <> r.ev_class)
        SELECT v.relname AS name, v.reloptions AS options,
               ARRAY(SELECT rolname::text FROM pg_roles WHERE rolname = ANY ($2) AND has_table_privilege(oid, v.oid, 'SELECT')) AS readers
          FROM pg_class v WHERE v.relnamespace = 'public'::regnamespace AND v.relkind IN ('v', 'm')
           AND EXISTS (SELECT FROM reads JOIN pg_class c ON c.oid = reads.tbl WHERE reads.view = v.oid AND c.relname = ANY ($1))
         ORDER BY 1`, [tagged, envRoles]);
    for (const v of views) {
      const invoker = (v.options ?? []).some((o) => /^security_invoker=(true|on|1)$/.test(o));
      if (!invoker && v.readers.length) {
        push('guarantee/owner-rights-view', v.name,
          `view ${v.name} reads tagged rows with its owner's rights (no security_invoker) and is granted to ${v.readers.join(', ')}: the [environment-role] policies do not apply through it, so ${v.readers.join(', ')} read${v.readers.length === 1 ? 's' : ''} rows of every environment`,
          `CREATE VIEW ${v.name} WITH (security_invoker = true${v.name.match(/^(live|paper|backtest)_/) ? ', check_option = local' : ''}); a view that must span environments is granted to precog_analyst only`);
      }
    }
    // Judged by what the function can read (through views and other functions), not by its text.
    const reach = await readReach(client, tagged);
    const definers = await q<{ name: string; callers: string[] }>(`
        SELECT DISTINCT p.proname AS name,
               ARRAY(SELECT rolname::text FROM pg_roles WHERE rolname = ANY ($1) AND has_function_privilege(oid, p.oid, 'EXECUTE') ORDER BY 1) AS callers
          FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef AND p.prorettype <> 'trigger'::regtype ORDER BY 1`, [envRoles]);
    for (const f of definers) {
      if (EXEMPT_DEFINERS.has(f.name) || !f.callers.length) continue;
      // Through a single-environment view (live_trades) only, and only to that environment's role: nothing crosses.
      const environmentOf = (path: string[]) => environments.find((env) => path.length > 1 && path[0]!.startsWith(`${env}_`));
      const reads = [...reach.ofFunction(f.name)]
        .filter(([, path]) => !(environmentOf(path) && f.callers.every((role) => role === `precog_${environmentOf(path)}`)));
      if (reads.length) {
        const through = reads.map(([table, path]) => (path.length > 1 ? `${table} (through ${path.slice(0, -1).join(' → ')})` : table));
        push('guarantee/definer-function', `${f.name}()`,
          `SECURITY DEFINER function ${f.name}() reads ${through.join(', ')} with its owner's rights and is executable by ${f.callers.join(', ')}: row-level security does not apply inside it, so ${f.callers.join(', ')} get${f.callers.length === 1 ? 's' : ''} what it returns from rows of ${reads.every(([, path]) => environmentOf(path)) ? 'an environment that is not theirs' : 'every environment'}`,
          `make it SECURITY INVOKER, or REVOKE EXECUTE ON FUNCTION ${f.name} FROM PUBLIC, ${f.callers.join(', ')} and grant it to precog_analyst only`);
      }
    }
  }

  // Foreign keys from untagged tables into tagged ones: a run's delete (and the purge) cannot detach its partitions under them.
  if (tagged.length) {
    for (const fk of await q<{ name: string; from: string; to: string }>(`
        SELECT c.conname AS name, f.relname AS from, coalesce((SELECT relname FROM pg_class WHERE oid = pg_partition_root(c.confrelid)), r.relname) AS to
          FROM pg_constraint c JOIN pg_class f ON f.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
         WHERE c.contype = 'f' AND c.conparentid = 0 AND f.relnamespace = 'public'::regnamespace
           AND coalesce((SELECT relname FROM pg_class WHERE oid = pg_partition_root(c.confrelid)), r.relname) = ANY ($1)
           AND NOT coalesce((SELECT relname FROM pg_class WHERE oid = pg_partition_root(c.conrelid)), f.relname) = ANY ($1) ORDER BY 2, 1`, [tagged])) {
      push('guarantee/purge-blocked', `${fk.from}.${fk.name}`,
        `foreign key ${fk.name} from ${fk.from} (not environment-tagged) into ${fk.to}: once a ${fk.from} row references a backtest row, deleting its run (purge_backtest_run(), db.backtests.delete) and purge_backtest_data() fail, as detaching the run's partition of ${fk.to} violates the key; the run's rows can no longer be removed`,
        `reference ${fk.to} from a tagged table (declare ${fk.from} with precog_environment_table, whose references are checked per statement and kept by the run's delete), or drop the constraint`);
    }
    const purge = await savepoint(client, async () => { await client.query('SELECT * FROM public.purge_backtest_data()'); });
    if (purge instanceof Error && !points.some((p) => p.rule === 'guarantee/purge-blocked')) {
      push('guarantee/purge-blocked', 'purge_backtest_data()', `purge_backtest_data() fails on the head schema: ${purge.message}`, 'make every tagged table purgeable again (no foreign key into a backtest partition from outside the registry)');
    }
  }

  // References between declared tables must carry the environment. One recorded without it (the
  // referencing table was declared before the referenced one) lets a paper row reference a live one.
  for (const r of !tagged.length ? [] : await q<{ table_name: string; columns: string[]; referenced_table: string; referenced_columns: string[] }>(`
      SELECT r.table_name, r.columns, r.referenced_table, r.referenced_columns FROM public.precog_environment_references r
       WHERE NOT r.same_environment AND r.referenced_table = ANY ($1) AND r.table_name = ANY ($1) ORDER BY 1, 2`, [tagged.length ? tagged : ['']])) {
    const key = `${r.table_name} (${r.columns.join(', ')}) → ${r.referenced_table} (${r.referenced_columns.join(', ')})`;
    push('guarantee/cross-environment-reference', key,
      `the reference ${key} does not carry the environment (recorded when ${r.referenced_table} was not declared yet): a ${r.table_name} row of one environment may reference a ${r.referenced_table} row of another (a paper row a live one), and [environment-cross-reference] accepts it`,
      `reference it with the environment, (${[...r.columns, 'execution_environment'].join(', ')}) REFERENCES ${r.referenced_table} (${[...r.referenced_columns, 'execution_environment'].join(', ')}), declaring ${r.referenced_table} before ${r.table_name}; a recorded reference is replaced by deleting its row from precog_environment_references, adding the key again and declaring ${r.table_name} again`);
  }
  // A foreign key on a tagged table that the declaration did not record: added after it. The
  // declaration turns a plain key into a reference checked per statement and kept by a run's
  // delete; a constraint is neither (only a key with actions to a shared table stays one).
  for (const fk of await q<{ name: string; from: string; to: string; columns: string[]; referenced: string[]; plain: boolean }>(`
      SELECT c.conname AS name, coalesce((SELECT relname FROM pg_class WHERE oid = pg_partition_root(c.conrelid)), f.relname)::text AS from,
             coalesce((SELECT relname FROM pg_class WHERE oid = pg_partition_root(c.confrelid)), r.relname)::text AS to,
             ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i) AS columns,
             ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i) AS referenced,
             c.confupdtype IN ('a', 'r') AND c.confdeltype IN ('a', 'r') AND NOT c.condeferrable AND c.confmatchtype = 's' AS plain
        FROM pg_constraint c JOIN pg_class f ON f.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
       WHERE c.contype = 'f' AND c.conparentid = 0 AND f.relnamespace = 'public'::regnamespace
         AND coalesce((SELECT relname FROM pg_class WHERE oid = pg_partition_root(c.conrelid)), f.relname) = ANY ($1) ORDER BY 2, 1`, [tagged])) {
    const toTagged = declared.has(fk.to);
    if (!toTagged && !fk.plain) continue;
    const d = declared.get(fk.from)!;
    const pairs = fk.columns.indexOf('execution_environment') >= 0 && fk.columns.indexOf('execution_environment') === fk.referenced.indexOf('execution_environment');
    const breaks = [
      toTagged && !pairs ? `a ${fk.from} row may reference a ${fk.to} row of another environment (a live row a paper one): the key does not pair execution_environment, and [environment-cross-reference] does not check a key the declaration did not record` : '',
      toTagged ? `with rows, deleting a backtest run (purge_backtest_run(), db.backtests.delete) and purge_backtest_data() fail: detaching the run's partition of ${fk.to} violates ${fk.name} while the run's ${fk.from} rows reference it` : '',
      !toTagged ? `it is checked row by row as a constraint, not per statement as the declaration's references are, and the next declaration of ${fk.from} turns it into one` : '',
    ].filter(Boolean);
    push('guarantee/reference-undeclared', `${fk.from}.${fk.name}`,
      `foreign key ${fk.name}, ${fk.from} (${fk.columns.join(', ')}) → ${fk.to} (${fk.referenced.join(', ')}), was added after ${fk.from} was declared: ${breaks.join('; ')}`,
      toTagged && !fk.plain
        ? `a reference between tagged tables is plain (no ON DELETE/UPDATE action, not deferrable): add it so, with execution_environment on both sides, then declare ${fk.from} again (\`${declare(d)}\`)`
        : `declare ${fk.from} again after adding the key (\`${declare(d)}\`): it records the key${toTagged ? ' with the environment' : ''}, checks it per statement and keeps run deletes working${toTagged && !pairs ? `; the key must pair the environment: (${fk.columns.filter((c) => c !== 'execution_environment').join(', ')}, execution_environment) REFERENCES ${fk.to} (${fk.referenced.filter((c) => c !== 'execution_environment').join(', ')}, execution_environment)` : ''}`);
  }

  // The generated reference checks, regenerated from the registry (in a savepoint) and compared.
  for (const d of registry) {
    const generated = [`precog_references_${d.table_name}`, `precog_referenced_${d.table_name}`];
    const read = async () => (await q<{ name: string; def: string }>(
      `SELECT p.proname AS name, pg_get_functiondef(p.oid) AS def FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.proname = ANY ($1) ORDER BY 1`, [generated]))
      .map((r) => `${r.name}\u0000${r.def}`);
    const now = await read();
    const regenerated = await savepoint(client, async () => {
      await client.query('SELECT public.precog_environment_reference_checks($1)', [d.table_name]);
      return read();
    });
    if (regenerated instanceof Error) continue;
    for (const name of generated) {
      const [a, b] = [now.find((x) => x.startsWith(`${name}\u0000`)), regenerated.find((x) => x.startsWith(`${name}\u0000`))];
      if (a === b) continue;
      push('guarantee/reference-check', `${name}()`,
        `${name}() ${!a ? 'is gone' : !b ? 'is no longer generated from the registry' : 'is not what precog_environment_reference_checks() generates from precog_environment_references'}: [environment-cross-reference] of ${d.table_name} no longer holds as declared (a row may reference a row of another environment, or a referenced row be deleted)`,
        `declare the table again (\`${declare(d)}\`): it regenerates the reference checks; never edit a generated function`);
    }
  }

  points.push(...(await probeGuardFunctions(client)));
  return points;
}

/**
 * The generic guard functions, probed by what they do rather than how they read: a scratch
 * partitioned table (temporary, in a savepoint rolled back) gets each guard as the declaration
 * would attach it, and each forbidden write must be refused with its rule.
 */
async function probeGuardFunctions(client: Client): Promise<Finding[]> {
  const points: Finding[] = [];
  const exists = await client.query(`SELECT to_regprocedure('public.precog_environment_update_guard()') IS NOT NULL AS ok`);
  if (!exists.rows[0].ok) return points;
  const setup = `
    CREATE TEMP TABLE precog_probe (k text, x int, row_current_ind boolean, row_end_ts timestamptz, execution_environment public.execution_environment, backtest_run_id bigint)
      PARTITION BY LIST (execution_environment);
    CREATE TEMP TABLE precog_probe_live PARTITION OF precog_probe FOR VALUES IN ('live');
    CREATE TEMP TABLE precog_probe_paper PARTITION OF precog_probe FOR VALUES IN ('paper');
    CREATE TEMP TABLE precog_probe_backtest PARTITION OF precog_probe FOR VALUES IN ('backtest');
    CREATE TEMP TABLE precog_probe_missing PARTITION OF precog_probe FOR VALUES IN (NULL);`;
  const probes: { fn: string; rule: string; loses: string; triggers: string; write: string; setup?: string }[] = [
    { fn: 'precog_environment_update_guard', rule: '[append-only]', loses: 'append-only tables (trades, settlements, ledger) become updatable',
      triggers: `CREATE TRIGGER g BEFORE UPDATE ON precog_probe FOR EACH ROW EXECUTE FUNCTION public.precog_environment_update_guard('append_only')`,
      write: `INSERT INTO precog_probe VALUES ('k', 1, true, NULL, 'paper'); UPDATE precog_probe SET x = 2` },
    { fn: 'precog_environment_update_guard', rule: '[environment-immutable]', loses: 'rows (and versions) can change environment (#662)',
      triggers: `CREATE TRIGGER g BEFORE UPDATE ON precog_probe FOR EACH ROW EXECUTE FUNCTION public.precog_environment_update_guard('mutable', 'x')`,
      write: `INSERT INTO precog_probe VALUES ('k', 1, true, NULL, 'paper'); UPDATE precog_probe SET execution_environment = 'live'` },
    { fn: 'precog_environment_update_guard', rule: '[version-immutable]', loses: 'current versions of versioned tables (positions, balances) can be rewritten in place',
      triggers: `CREATE TRIGGER g BEFORE UPDATE ON precog_probe FOR EACH ROW EXECUTE FUNCTION public.precog_environment_update_guard('versioned', 'row_current_ind', 'row_end_ts')`,
      write: `INSERT INTO precog_probe VALUES ('k', 1, true, NULL, 'paper'); UPDATE precog_probe SET x = 2` },
    { fn: 'precog_environment_update_guard', rule: '[immutable-column]', loses: 'immutable columns of mutable tables (orders) can change',
      triggers: `CREATE TRIGGER g BEFORE UPDATE ON precog_probe FOR EACH ROW EXECUTE FUNCTION public.precog_environment_update_guard('mutable', 'x')`,
      write: `INSERT INTO precog_probe VALUES ('k', 1, true, NULL, 'paper'); UPDATE precog_probe SET k = 'other'` },
    { fn: 'precog_live_history_kept', rule: '[live-history-kept]', loses: 'live rows become deletable',
      triggers: `CREATE TRIGGER g BEFORE DELETE ON precog_probe_live FOR EACH ROW EXECUTE FUNCTION public.precog_live_history_kept()`,
      write: `INSERT INTO precog_probe VALUES ('k', 1, true, NULL, 'live'); DELETE FROM precog_probe` },
    { fn: 'precog_environment_required', rule: '[environment-required]', loses: 'a row without an environment is refused without naming the rule',
      triggers: `CREATE TRIGGER g BEFORE INSERT ON precog_probe_missing FOR EACH ROW EXECUTE FUNCTION public.precog_environment_required()`,
      write: `INSERT INTO precog_probe VALUES ('k', 1, true, NULL, NULL)` },
    { fn: 'precog_backtest_purged_together', rule: '[backtest-purged-together]', loses: 'a backtest partition can be truncated alone',
      triggers: `CREATE TRIGGER g BEFORE TRUNCATE ON precog_probe_backtest FOR EACH STATEMENT EXECUTE FUNCTION public.precog_backtest_purged_together()`,
      write: `TRUNCATE precog_probe_backtest` },
    { fn: 'precog_backtest_run_required', rule: '[backtest-run-required]', loses: 'a live row can claim a backtest run',
      triggers: `CREATE TRIGGER g BEFORE INSERT ON precog_probe_live FOR EACH ROW WHEN (NEW.backtest_run_id IS NOT NULL) EXECUTE FUNCTION public.precog_backtest_run_required()`,
      write: `INSERT INTO precog_probe VALUES ('k', 1, true, NULL, 'live', 1)` },
    // The key guard runs only for a versioned table of the registry ([trigger-misplaced], Hardening II):
    // its scratch table is one, in public and registered, for the savepoint.
    { fn: 'precog_environment_key_guard', rule: '[environment-immutable]', loses: 'a new version of a key may change environment (#662)',
      setup: `CREATE TABLE public.precog_probe_keys (k text, x int, row_current_ind boolean, row_end_ts timestamptz, execution_environment public.execution_environment, backtest_run_id bigint)
                PARTITION BY LIST (execution_environment);
              CREATE TABLE public.precog_probe_keys_all PARTITION OF public.precog_probe_keys DEFAULT;
              INSERT INTO public.precog_environment_tables (table_name, kind, business_key) VALUES ('precog_probe_keys', 'versioned', '{k}');`,
      triggers: `CREATE TRIGGER g BEFORE INSERT ON public.precog_probe_keys FOR EACH ROW EXECUTE FUNCTION public.precog_environment_key_guard('k')`,
      write: `INSERT INTO public.precog_probe_keys VALUES ('precog-probe-key', 1, true, NULL, 'paper'); INSERT INTO public.precog_probe_keys VALUES ('precog-probe-key', 1, true, NULL, 'live')` },
  ];
  const failed = new Map<string, string[]>();
  for (const probe of probes) {
    const present = await client.query(`SELECT to_regprocedure($1) IS NOT NULL AS ok`, [`public.${probe.fn}()`]);
    if (!present.rows[0].ok) {
      points.push(finding('guarantee/guard-function', `${probe.fn}()`, `guard function ${probe.fn}() is gone: ${probe.rule} no longer holds — ${probe.loses}`, `restore it from its file, ${frameworkSource(probe.fn)} (npm run framework ships it)`));
      continue;
    }
    const outcome = await savepoint(client, async () => {
      await client.query(probe.setup ?? setup);
      await client.query(probe.triggers);
      await client.query(probe.write);
    });
    const refused = outcome instanceof Error && outcome.message.includes(probe.rule);
    if (!refused) {
      const got = outcome instanceof Error ? `refused with "${outcome.message.slice(0, 120)}" instead` : 'let through';
      const failures = failed.get(probe.fn) ?? [];
      failures.push(`${probe.rule} (${got}: ${probe.loses})`);
      failed.set(probe.fn, failures);
    }
  }
  for (const [fn, failures] of failed) {
    points.push(finding('guarantee/guard-function', `${fn}()`,
      `guard function ${fn}() no longer refuses what its rules forbid, probed on a scratch table: ${failures.join('; ')}`,
      `restore ${fn}() from its file, ${frameworkSource(fn)}; a guard changes only with its rule, said in words in the pull request`));
  }
  return points;
}

/**
 * Views recreated without what the base gave them: security_invoker (the [environment-role]
 * policies apply to the caller through the view) and WITH CHECK OPTION (an INSERT through
 * live_trades cannot write a paper row). `CREATE OR REPLACE VIEW` keeps them; DROP and CREATE
 * (the way Precog recreated views) silently loses them.
 */
export async function viewOptionPoints(base: Client, head: Client): Promise<Finding[]> {
  const read = async (client: Client) => new Map((await client.query<{ name: string; options: string[] | null }>(
    `SELECT relname AS name, reloptions AS options FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'v'`)).rows.map((r) => [r.name, r.options ?? []]));
  const [before, after] = [await read(base), await read(head)];
  const points: Finding[] = [];
  for (const [name, options] of before) {
    const now = after.get(name);
    if (!now) continue;
    const had = (key: string, list: string[]) => list.find((o) => o.startsWith(`${key}=`) && !/=(false|off|0)$/.test(o));
    if (had('security_invoker', options) && !had('security_invoker', now)) {
      points.push(finding('guarantee/view-security-invoker', name,
        `view ${name} lost security_invoker: it now reads with its owner's rights, so row-level security no longer applies to whoever reads it`,
        `recreate it WITH (security_invoker = true${had('check_option', options) ? ', check_option = local' : ''}), or use CREATE OR REPLACE VIEW, which keeps its options`));
    }
    if (had('check_option', options) && !had('check_option', now)) {
      points.push(finding('guarantee/view-check-option', name,
        `view ${name} lost WITH CHECK OPTION: an INSERT or UPDATE through it may write rows the view does not show (a row of another environment through a single-environment view)`,
        `recreate it WITH (check_option = local${had('security_invoker', options) ? ', security_invoker = true' : ''})`));
    }
  }
  return points;
}
