/**
 * Hardening II, class 2: guards that trust what the caller can set.
 *
 * The attacks: a statement resets the identity mark inside its own INSERT ... SELECT and gives
 * its row the id of another environment's row; the owner switches off the rule that a backtest
 * partition is never truncated with one SET LOCAL; a run set for the session survives into the
 * next transaction on a pooled connection, and a statement switches its run by setting it. Every
 * setting an attacker tries is read from the catalog (each `precog.*` name a function, policy or
 * default mentions), every table and partition from the registry and pg_inherits.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENTS, type Environment } from '../support/environment-fixtures.js';
import { copyOf, ident, insertableColumns, loadFixtures, type Row } from '../support/environment-registry.js';
import { attackBench, attemptIn, endAll, enterRun, failure, partitionsOf, rolledBack } from './support.js';

const withBench = attackBench();

/** Every precog.* setting the schema reads: in function bodies, policies and column defaults. */
async function settingsRead(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(`
    WITH texts AS (
      SELECT p.prosrc AS body FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
      UNION ALL SELECT coalesce(qual, '') || ' ' || coalesce(with_check, '') FROM pg_policies
      UNION ALL SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d)
    SELECT DISTINCT m[1] AS name FROM texts, regexp_matches(body, '''(precog\\.[a-z_0-9]+)''', 'g') m ORDER BY 1`);
  return rows.map((r) => r.name);
}

/** Joined into a statement: sets every setting of $2 (a text[]) to `value` on its way, after the statement's BEFORE triggers. */
const resettingEverySetting = (value: string) =>
  `CROSS JOIN LATERAL (SELECT count(pg_catalog.set_config(n, '${value}', true)) FROM unnest($2::text[]) n) AS reset`;

const OTHER: Record<Environment, Environment> = { live: 'paper', paper: 'live', backtest: 'live' };

describe('class 2: nothing a caller can SET switches a guard off or vouches for a row', () => {
  it('a statement that resets the identity mark in its own INSERT ... SELECT still cannot give its row another environment\'s id', async () => {
    await withBench(async ({ owner, registry, run, principals }) => {
      const client = await owner.connect();
      const fixtures = await loadFixtures(client, registry);
      const settings = (await settingsRead(client).finally(() => client.release())).filter((n) => n !== 'precog.backtest_run');
      const accepted: string[] = [];
      for (const principal of principals.filter((p) => p.role && p.role !== 'precog_analyst')) {
        const environment = principal.role!.slice('precog_'.length) as Environment;
        const attacker = await principal.connect();
        try {
          for (const table of registry.tables) {
            const { rows: identities } = await owner.query<{ name: string }>(
              `SELECT a.attname AS name FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attidentity <> '' AND NOT a.attisdropped`,
              [`public.${ident(table.name)}`],
            );
            for (const { name } of identities) {
              const theirs = fixtures[table.name]![OTHER[environment]].free[name];
              const row: Row = { ...copyOf(table, fixtures[table.name]![environment].free), [name]: theirs };
              const columns = [name, ...insertableColumns(table)].map(ident).join(', ');
              for (const reset of ['0', '-1', '']) {
                const error = await rolledBack(attacker, async () => {
                  if (environment === 'backtest') await enterRun(attacker, run);
                  return attemptIn(
                    attacker,
                    `INSERT INTO ${ident(table.name)} (${columns}) OVERRIDING SYSTEM VALUE
                     SELECT ${columns} FROM jsonb_populate_record(NULL::${ident(table.name)}, $1::jsonb) ${resettingEverySetting(reset)}`,
                    [JSON.stringify(row), settings],
                  );
                });
                if (!error?.message.includes('[identity-issued]')) {
                  accepted.push(`${principal.name}: ${table.name}.${name} = ${String(theirs)} of a ${OTHER[environment]} row (mark reset to '${reset}'): ${error?.message ?? 'inserted'}`);
                }
              }
            }
          }
        } finally {
          await endAll([attacker]);
        }
      }
      expect(accepted).toEqual([]);
    });
  });

  it('no setting lets the owner truncate rows of a tagged table, or the runs', async () => {
    await withBench(async ({ owner, registry }) => {
      const client = await owner.connect();
      try {
        const settings = await settingsRead(client);
        expect(settings.length).toBeGreaterThan(0);
        const truncated: string[] = [];
        const targets = ['backtest_runs'];
        for (const table of registry.tables) targets.push(table.name, ...(await partitionsOf(client, table.name)));
        for (const value of ['on', 'true', '1']) {
          await rolledBack(client, async () => {
            for (const name of settings) await client.query(`SELECT pg_catalog.set_config($1, $2, true)`, [name, value]);
            for (const target of targets) {
              const count = async () => (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${target}`)).rows[0]!.n;
              const before = await count();
              for (const statement of [`TRUNCATE ${target}`, `TRUNCATE ${target} RESTART IDENTITY CASCADE`]) {
                // A partition that is always empty (<t>_environment_missing) may be truncated: no row is lost.
                await client.query('SAVEPOINT attack');
                const error = await failure(client, statement);
                const after = error ? before : await count();
                await client.query('ROLLBACK TO SAVEPOINT attack');
                if (after < before) truncated.push(`${statement} (${before} rows) with ${settings.join(', ')} = ${value}`);
              }
            }
          });
        }
        expect(truncated).toEqual([]);
      } finally {
        client.release();
      }
    });
  });

  it('only the purge vouches for a TRUNCATE: no role or login writes a permit or calls the truncation, and a permit of another transaction counts for nothing', async () => {
    await withBench(async ({ owner, registry, principals }) => {
      // Every backtest partition of the registry (the owner finds them; the attackers are told).
      const backtest: Record<string, string> = {};
      for (const table of registry.tables) {
        backtest[table.name] = (await owner.query<{ p: string }>(
          `SELECT public.precog_environment_partition(format('public.%I', $1::text)::regclass, 'backtest')::text AS p`, [table.name])).rows[0]!.p;
      }
      const opened: string[] = [];
      for (const principal of principals.filter((p) => p.role !== undefined)) {
        const client = await principal.connect();
        try {
          await rolledBack(client, async () => {
            for (const statement of [
              ...Object.values(backtest).map((partition) =>
                `INSERT INTO public.precog_truncate_permits VALUES (pg_backend_pid(), pg_current_xact_id(), '${partition}'::regclass)`),
              'SELECT public.precog_backtest_truncate()',
            ]) {
              if (!(await attemptIn(client, statement))) opened.push(`${principal.name}: ${statement}`);
            }
          });
        } finally {
          await client.end();
        }
      }
      expect(opened).toEqual([]);
      // The owner, who can write the table, still cannot reuse a permit of another transaction.
      const client = await owner.connect();
      try {
        await rolledBack(client, async () => {
          for (const partition of Object.values(backtest)) {
            await client.query(`INSERT INTO public.precog_truncate_permits VALUES (pg_backend_pid(), '1'::xid8, $1::regclass)`, [partition]);
          }
          for (const [table, partition] of Object.entries(backtest)) {
            expect((await attemptIn(client, `TRUNCATE ${partition}`))?.message, table).toMatch(/\[backtest-purged-together\]/);
          }
        });
      } finally {
        client.release();
      }
    });
  });

  it('a run set for the session does not survive into the next transaction (a pooled connection)', async () => {
    await withBench(async ({ registry, run, principals }) => {
      const seen: string[] = [];
      for (const principal of principals.filter((p) => p.role === 'precog_backtest')) {
        const pooled = await principal.connect();
        try {
          // The previous holder of the connection: a run for the session, and a run scope's committed transaction.
          await pooled.query(`SELECT pg_catalog.set_config('precog.backtest_run', $1, false)`, [run]);
          await pooled.query('BEGIN');
          await enterRun(pooled, run);
          await pooled.query('COMMIT');
          // The next holder: a transaction that opened no run.
          for (const table of registry.tables) {
            const { rows: [counted] } = await pooled.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ident(table.name)}`);
            if (counted!.n > 0) seen.push(`${principal.name} sees ${counted!.n} rows of ${table.name} with no run of its own`);
          }
        } finally {
          await endAll([pooled]);
        }
      }
      expect(seen).toEqual([]);
    });
  });

  it('a statement of a run scope that sets the run reads and writes no other run', async () => {
    await withBench(async ({ registry, run, otherRun, principals, owner }) => {
      const client = await owner.connect();
      const fixtures = await loadFixtures(client, registry).finally(() => client.release());
      const reached: string[] = [];
      for (const principal of principals.filter((p) => p.role === 'precog_backtest')) {
        const scope = await principal.connect();
        try {
          for (const table of registry.tables) {
            await rolledBack(scope, async () => {
              await enterRun(scope, run);
              const { rows: [inline] } = await scope.query<{ n: number }>(
                `SELECT count(*)::int AS n FROM (SELECT pg_catalog.set_config('precog.backtest_run', $1, true)) s, ${ident(table.name)} t WHERE t.backtest_run_id = $1::bigint`,
                [otherRun],
              );
              await scope.query(`SET LOCAL precog.backtest_run = ${Number(otherRun)}`);
              const { rows: [after] } = await scope.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ident(table.name)} WHERE backtest_run_id = $1`, [otherRun]);
              if (inline!.n + after!.n > 0) reached.push(`${principal.name} read ${inline!.n + after!.n} rows of another run in ${table.name}`);
              const row = { ...copyOf(table, fixtures[table.name]!.backtest.free), backtest_run_id: otherRun };
              const columns = insertableColumns(table).map(ident).join(', ');
              const error = await attemptIn(scope, `INSERT INTO ${ident(table.name)} (${columns}) SELECT ${columns} FROM jsonb_populate_record(NULL::${ident(table.name)}, $1::jsonb)`, [JSON.stringify(row)]);
              if (!error) reached.push(`${principal.name} wrote a row of another run into ${table.name}`);
            });
          }
        } finally {
          await endAll([scope]);
        }
      }
      expect(reached).toEqual([]);
      expect(ENVIRONMENTS).toContain('backtest');
    });
  });
});
