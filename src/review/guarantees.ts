/**
 * The head schema checked against the model: the guarantees of a tagged table are a function of
 * its declaration (precog_environment_table, migration 000010), so for every row of
 * precog_environment_tables the catalog must hold exactly what the declaration installs, with
 * the meaning it installs. Read from a database built from the head (in the review, inside the
 * transaction that applied the change; in `npm run check`, a fresh database), never from text.
 *
 *   registry     a table removed from precog_environment_tables, a weaker kind, a table with an
 *                execution_environment column that is not declared
 *   column       execution_environment of the enum type, NOT NULL, no default
 *   partitions   one per environment value (and one for NULL), row-level security on each
 *   guards       every guard trigger present, enabled, on the function the declaration names,
 *                with its arguments; the guard functions still refuse (probed on a scratch table)
 *   keys         the one-current-version unique index of a versioned table
 *   policies     a RESTRICTIVE "[environment-role] <env> rows only" per environment, nothing else
 *                that admits rows to an environment role
 *   grants       per kind: SELECT, INSERT (+ UPDATE of the columns that may change); none on partitions
 *   roles        no BYPASSRLS or SUPERUSER, no membership in another environment's role
 *   views        reading a tagged table: security_invoker, or granted only to precog_analyst
 *   functions    SECURITY DEFINER reading a tagged table, executable by an environment role
 *   references   a foreign key from an untagged table into a tagged one (purge_backtest_data fails)
 */
import type pg from 'pg';
import { type Point, point } from './point.js';

type Client = Pick<pg.ClientBase, 'query'>;

export interface Declaration {
  table_name: string;
  kind: 'append_only' | 'versioned' | 'mutable';
  business_key: string[];
  mutable_columns: string[];
  current_column: string | null;
  end_column: string | null;
}

export const ENVIRONMENT_ROLES = (environments: string[]) => environments.map((env) => `precog_${env}`);
const COMMAND: Record<string, string> = { '*': 'ALL', r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE' };
const KIND_STRENGTH: Record<string, number> = { append_only: 3, versioned: 2, mutable: 1 };
/**
 * SECURITY DEFINER functions that read tagged tables but return none of their rows: the purge
 * and the run operations (counts and run rows), and the bulk load's checks (migration 000013).
 */
const EXEMPT_DEFINERS = new Set(['purge_backtest_data', 'purge_backtest_run', 'create_backtest_run', 'precog_backtest_load_begin', 'precog_backtest_load_finish']);
/** The [backtest-run] policy of migration 000013: precog_backtest holds to its transaction's run. */
const RUN_POLICY = "[backtest-run] rows of the transaction's run only";
// The run the transaction entered (precog_enter_backtest_run(), Hardening II): no setting opens a run.
const RUN_QUAL = '(backtest_run_id = ( SELECT precog_backtest_run() AS precog_backtest_run))';
const declare = (d: Declaration) => {
  const args = [`'${d.table_name}'`, `kind => '${d.kind}'`];
  if (d.kind === 'versioned') args.push(`business_key => ARRAY[${d.business_key.map((c) => `'${c}'`).join(', ')}]`);
  if (d.kind === 'mutable') args.push(`mutable_columns => ARRAY[${d.mutable_columns.map((c) => `'${c}'`).join(', ')}]`);
  return `SELECT precog_environment_table(${args.join(', ')});`;
};

export async function readRegistry(client: Client): Promise<Declaration[]> {
  const exists = await client.query(`SELECT to_regclass('public.precog_environment_tables') IS NOT NULL AS ok`);
  if (!exists.rows[0].ok) return [];
  const { rows } = await client.query<Declaration>(
    `SELECT table_name, kind, business_key, mutable_columns, current_column, end_column FROM public.precog_environment_tables ORDER BY table_name`,
  );
  return rows;
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
export async function guaranteeFindings(client: Client, base?: Declaration[]): Promise<Point[]> {
  const points: Point[] = [];
  const push = (...args: Parameters<typeof point>) => points.push(point(...args));
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
      push('guarantee/undeclared-tagged-table', row.t,
        `${row.t} has an execution_environment column but is not declared: no guard, no [environment-role] policy, no partition, not purged`,
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

    // Guard triggers.
    const expected: { on: string | undefined; name: string; fn: string; args?: string[]; rule: string; loses: string }[] = [
      { on: t, name: 'environment_update_guard', fn: 'precog_environment_update_guard', rule: '[environment-immutable]/[' + d.kind.replace('_', '-') + ']',
        args: [d.kind, ...(d.kind === 'versioned' ? [d.current_column!, d.end_column!] : d.kind === 'mutable' ? d.mutable_columns : [])],
        loses: `an UPDATE may change execution_environment${d.kind === 'append_only' ? ' and any recorded fact' : d.kind === 'versioned' ? ' and superseded versions' : ' and immutable columns'}` },
      { on: t, name: 'live_history_kept_truncate', fn: 'precog_live_history_kept', rule: '[live-history-kept]', loses: `TRUNCATE ${t} deletes live history` },
      { on: partitionOf('live')?.name, name: 'live_history_kept', fn: 'precog_live_history_kept', rule: '[live-history-kept]', loses: 'live rows become deletable' },
      { on: partitionOf('live')?.name, name: 'live_history_kept_truncate', fn: 'precog_live_history_kept', rule: '[live-history-kept]', loses: 'the live partition becomes truncatable' },
      { on: partitionOf('paper')?.name, name: 'live_history_kept_truncate', fn: 'precog_live_history_kept', rule: '[live-history-kept]', loses: 'the paper partition becomes truncatable' },
      { on: partitionOf('backtest')?.name, name: 'backtest_purged_together', fn: 'precog_backtest_purged_together', rule: '[backtest-purged-together]', loses: 'a backtest partition can be truncated alone, leaving references dangling' },
      { on: partitionOf(null)?.name, name: 'environment_required', fn: 'precog_environment_required', rule: '[environment-required]', loses: 'a row without an environment is refused without naming the rule' },
    ];
    if (d.kind === 'versioned' && !d.business_key.includes('execution_environment')) {
      expected.push({ on: t, name: 'environment_key_guard', fn: 'precog_environment_key_guard', args: d.business_key, rule: '[environment-immutable]', loses: 'a new version of a key may change environment (#662)' });
    }
    const references = await q<{ table_name: string; columns: string[] }>(`SELECT table_name, columns FROM public.precog_environment_references WHERE table_name = $1 OR referenced_table = $1`, [t]);
    if (references.some((r) => r.table_name === t)) {
      expected.push({ on: t, name: 'environment_references', fn: `precog_references_${t}`, rule: '[environment-cross-reference]', loses: 'a row may reference a row of another environment, or none' });
    }
    if (references.some((r) => r.table_name !== t)) {
      expected.push({ on: t, name: 'environment_referenced', fn: `precog_referenced_${t}`, rule: '[environment-cross-reference]', loses: 'a referenced row may be deleted or re-keyed under its references' });
    }
    for (const e of expected) {
      if (!e.on) continue;
      const [trigger] = await q<{ fn: string; enabled: string; args: string[] }>(`
          SELECT p.proname AS fn, g.tgenabled AS enabled,
                 CASE WHEN g.tgnargs = 0 THEN '{}'::text[] ELSE string_to_array(rtrim(encode(g.tgargs, 'escape'), '\\000'), '\\000') END AS args
            FROM pg_trigger g JOIN pg_proc p ON p.oid = g.tgfoid WHERE g.tgrelid = to_regclass($1) AND g.tgname = $2`, [`public.${e.on}`, e.name]);
      const object = `${e.on}.${e.name}`;
      const fix = `declare the table again (\`${declare(d)}\`): it reinstalls the trigger`;
      if (!trigger) push('guarantee/guard-trigger', object, `guard trigger ${e.name} on ${e.on} is gone: ${e.rule} no longer holds — ${e.loses}`, fix);
      else if (trigger.enabled === 'D' || trigger.enabled === 'R') push('guarantee/guard-trigger', object, `guard trigger ${e.name} on ${e.on} is disabled: ${e.rule} no longer holds — ${e.loses}`, `ALTER TABLE ${e.on} ENABLE TRIGGER ${e.name}, or ${fix}`);
      else if (trigger.fn !== e.fn) push('guarantee/guard-trigger', object, `guard trigger ${e.name} on ${e.on} runs ${trigger.fn}(), not ${e.fn}(): ${e.rule} is no longer the declaration's`, fix);
      else if (e.args && trigger.args.join('\u0000') !== e.args.join('\u0000')) push('guarantee/guard-trigger', object, `guard trigger ${e.name} on ${e.on} is configured (${trigger.args.join(', ')}), the declaration says (${e.args.join(', ')})`, fix);
    }

    // One current version per key.
    if (d.kind === 'versioned') {
      const [index] = await q<{ unique: boolean; def: string }>(`SELECT i.indisunique AS unique, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i WHERE i.indexrelid = to_regclass($1)`, [`public.${t}_one_current_version`]);
      if (!index || !index.unique || !index.def.includes(`WHERE ${d.current_column}`)) {
        push('guarantee/one-current-version', `${t}_one_current_version`,
          `${index ? 'the one-current-version index is no longer unique on the current versions' : 'the unique index keeping one current version per key is gone'}: two current versions of one ${d.business_key.join(', ')} can coexist`,
          `declare the table again (\`${declare(d)}\`): it recreates ${t}_one_current_version`);
      }
    }

    // Policies.
    const policies = await q<{ name: string; permissive: boolean; cmd: string; roles: string[]; qual: string | null; check: string | null }>(`
        SELECT p.polname AS name, p.polpermissive AS permissive, p.polcmd AS cmd,
               CASE WHEN p.polroles = '{0}' THEN ARRAY['public'] ELSE ARRAY(SELECT rolname::text FROM pg_roles WHERE oid = ANY (p.polroles)) END AS roles,
               pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS check
          FROM pg_policy p WHERE p.polrelid = $1 ORDER BY p.polname`, [rel.oid]);
    const installedNames = new Set(['environment_roles', 'analyst_reads_all', RUN_POLICY, ...environments.map((e) => `[environment-role] ${e} rows only`)]);
    const runs = policies.find((p) => p.name === RUN_POLICY);
    const hasRuns = await q<{ ok: boolean }>(`SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = $1 AND attname = 'backtest_run_id' AND NOT attisdropped) AS ok`, [rel.oid]);
    if (hasRuns[0]?.ok && (!runs || runs.permissive || runs.qual !== RUN_QUAL || runs.check !== RUN_QUAL || runs.cmd !== '*' || runs.roles.join() !== 'precog_backtest')) {
      push('guarantee/backtest-run-policy', `${t}."${RUN_POLICY}"`,
        runs ? `the [backtest-run] policy on ${t} is changed (${runs.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'} TO ${runs.roles.join(', ')} USING ${runs.qual ?? 'none'}): precog_backtest reads or writes rows of other runs`
          : `the [backtest-run] policy on ${t} is dropped: precog_backtest reads and writes every run's rows`,
        `declare the table again (\`${declare(d)}\`): it rebuilds the RESTRICTIVE policy on the run the transaction entered`);
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
    const definers = await q<{ name: string; src: string; callers: string[] }>(`
        SELECT p.proname AS name, p.prosrc AS src,
               ARRAY(SELECT rolname::text FROM pg_roles WHERE rolname = ANY ($1) AND has_function_privilege(oid, p.oid, 'EXECUTE')) AS callers
          FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef AND p.prorettype <> 'trigger'::regtype ORDER BY 1`, [envRoles]);
    for (const f of definers) {
      if (EXEMPT_DEFINERS.has(f.name) || !f.callers.length) continue;
      const reads = tagged.filter((t) => new RegExp(`\\b${t}\\b`).test(f.src));
      if (reads.length) {
        push('guarantee/definer-function', `${f.name}()`,
          `SECURITY DEFINER function ${f.name}() reads ${reads.join(', ')} with its owner's rights and is executable by ${f.callers.join(', ')}: row-level security does not apply inside it, so it returns rows of every environment`,
          `make it SECURITY INVOKER, or REVOKE EXECUTE ON FUNCTION ${f.name} FROM PUBLIC, ${f.callers.join(', ')} and grant it to precog_analyst only`);
      }
    }
  }

  // Foreign keys from untagged tables into tagged ones: purge_backtest_data() cannot truncate through them.
  if (tagged.length) {
    for (const fk of await q<{ name: string; from: string; to: string }>(`
        SELECT c.conname AS name, f.relname AS from, coalesce((SELECT relname FROM pg_class WHERE oid = pg_partition_root(c.confrelid)), r.relname) AS to
          FROM pg_constraint c JOIN pg_class f ON f.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
         WHERE c.contype = 'f' AND c.conparentid = 0 AND f.relnamespace = 'public'::regnamespace
           AND coalesce((SELECT relname FROM pg_class WHERE oid = pg_partition_root(c.confrelid)), r.relname) = ANY ($1)
           AND NOT coalesce((SELECT relname FROM pg_class WHERE oid = pg_partition_root(c.conrelid)), f.relname) = ANY ($1) ORDER BY 2, 1`, [tagged])) {
      push('guarantee/purge-blocked', `${fk.from}.${fk.name}`,
        `foreign key ${fk.name} from ${fk.from} (not environment-tagged) into ${fk.to}: purge_backtest_data() can no longer truncate ${fk.to}_backtest (TRUNCATE refuses a referenced table), so backtest data can no longer be removed`,
        `reference ${fk.to} from a tagged table (declare ${fk.from} with precog_environment_table, whose references are checked per statement), or drop the constraint`);
    }
    const purge = await savepoint(client, async () => { await client.query('SELECT * FROM public.purge_backtest_data()'); });
    if (purge instanceof Error && !points.some((p) => p.rule === 'guarantee/purge-blocked')) {
      push('guarantee/purge-blocked', 'purge_backtest_data()', `purge_backtest_data() fails on the head schema: ${purge.message}`, 'make every tagged table purgeable again (no foreign key into a backtest partition from outside the registry)');
    }
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
async function probeGuardFunctions(client: Client): Promise<Point[]> {
  const points: Point[] = [];
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
      points.push(point('guarantee/guard-function', `${probe.fn}()`, `guard function ${probe.fn}() is gone: ${probe.rule} no longer holds — ${probe.loses}`, 'restore it as migration 000010 installs it'));
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
    points.push(point('guarantee/guard-function', `${fn}()`,
      `guard function ${fn}() no longer refuses what its rules forbid, probed on a scratch table: ${failures.join('; ')}`,
      `restore ${fn}() as migration 000010 defines it; a guard changes only with its rule, said in words in the pull request`));
  }
  return points;
}

/**
 * Views recreated without what the base gave them: security_invoker (the [environment-role]
 * policies apply to the caller through the view) and WITH CHECK OPTION (an INSERT through
 * live_trades cannot write a paper row). `CREATE OR REPLACE VIEW` keeps them; DROP and CREATE
 * (the way Precog recreated views) silently loses them.
 */
export async function viewOptionPoints(base: Client, head: Client): Promise<Point[]> {
  const read = async (client: Client) => new Map((await client.query<{ name: string; options: string[] | null }>(
    `SELECT relname AS name, reloptions AS options FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'v'`)).rows.map((r) => [r.name, r.options ?? []]));
  const [before, after] = [await read(base), await read(head)];
  const points: Point[] = [];
  for (const [name, options] of before) {
    const now = after.get(name);
    if (!now) continue;
    const had = (key: string, list: string[]) => list.find((o) => o.startsWith(`${key}=`) && !/=(false|off|0)$/.test(o));
    if (had('security_invoker', options) && !had('security_invoker', now)) {
      points.push(point('guarantee/view-security-invoker', name,
        `view ${name} lost security_invoker: it now reads with its owner's rights, so row-level security no longer applies to whoever reads it`,
        `recreate it WITH (security_invoker = true${had('check_option', options) ? ', check_option = local' : ''}), or use CREATE OR REPLACE VIEW, which keeps its options`));
    }
    if (had('check_option', options) && !had('check_option', now)) {
      points.push(point('guarantee/view-check-option', name,
        `view ${name} lost WITH CHECK OPTION: an INSERT or UPDATE through it may write rows the view does not show (a row of another environment through a single-environment view)`,
        `recreate it WITH (check_option = local${had('security_invoker', options) ? ', security_invoker = true' : ''})`));
    }
  }
  return points;
}
