/**
 * Hardening II, class 1: owner-rights functions that anyone may call.
 *
 * The attack: any login (the read-only analyst included) makes a temporary table, attaches a
 * trigger calling an owner-rights trigger function (the one that runs when a backtest run is
 * deleted; the versioned-key guard) and fires it on a row of its own naming a run or a key. Every
 * function is read from the catalog (pg_proc, pg_trigger), every table from the registry.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { withFreshDatabase, withRollback } from '../support/db.js';
import { ident } from '../support/environment-registry.js';
import { attackBench, attemptIn, endAll, failure, rolledBack, rowsOfRun, step } from './support.js';

const withBench = attackBench();

interface Guarded {
  function: string;
  definer: boolean;
  trigger: boolean;
  comment: string;
  grantees: string[];
}

/** Every SECURITY DEFINER function and every trigger function outside PostgreSQL's own schemas. */
async function ownerRightsFunctions(client: pg.ClientBase | pg.Pool): Promise<Guarded[]> {
  const { rows } = await client.query<Guarded>(`
    SELECT p.oid::regprocedure::text AS function, p.prosecdef AS definer, p.prorettype = 'trigger'::regtype AS trigger,
           coalesce(obj_description(p.oid, 'pg_proc'), '') AS comment,
           array(SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
                   FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                  WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner ORDER BY 1) AS grantees
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
       AND (p.prosecdef OR p.prorettype = 'trigger'::regtype)
     ORDER BY 1`);
  return rows;
}

/** What the catalog rule refuses: EXECUTE for PUBLIC, or for a role the function's comment does not name. */
async function callableWithoutReason(client: pg.ClientBase): Promise<string[]> {
  const functions = await ownerRightsFunctions(client);
  expect(functions.length).toBeGreaterThan(0);
  return functions.flatMap((f) =>
    f.grantees.filter((g) => g === 'PUBLIC' || !new RegExp(`\\b${g.replace(/"/g, '')}\\b`).test(f.comment)).map((g) => `${f.function} callable by ${g}`),
  );
}

/** A later declaration: a versioned table referencing positions (key guard, references, ids, referenced-row guard). */
const LATER_TABLE = `
CREATE TABLE hardening_notes (
  id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  note_key               text NOT NULL,
  position_id            integer NOT NULL,
  row_current_ind        boolean NOT NULL DEFAULT true,
  row_end_ts             timestamptz,
  execution_environment  execution_environment NOT NULL,
  backtest_run_id        bigint,
  FOREIGN KEY (position_id, execution_environment, backtest_run_id) REFERENCES positions (id, execution_environment, backtest_run_id)
);
SELECT precog_environment_table('hardening_notes', kind => 'versioned', business_key => ARRAY['note_key']);`;

describe('class 1: owner-rights functions', () => {
  it('the catalog holds no SECURITY DEFINER or trigger function that PUBLIC, or a role its comment does not name, may execute', async () => {
    await withRollback(async (client) => {
      expect(await callableWithoutReason(client)).toEqual([]);
    });
  });

  it('holds for the functions a later declaration installs', async () => {
    await withFreshDatabase(async (_database, pool) => {
      await pool.query(LATER_TABLE);
      const client = await pool.connect();
      try {
        const { rows } = await client.query(`SELECT 1 FROM pg_proc WHERE proname LIKE '%hardening_notes%'`);
        expect(rows.length).toBeGreaterThan(0); // the declaration generated functions of its own
        expect(await callableWithoutReason(client)).toEqual([]);
      } finally {
        client.release();
      }
    });
  });

  it('no role or login can attach any trigger function to a table of its own; a run is not wiped, a live key not registered', async () => {
    await withBench(async ({ owner, registry, otherRun, principals }) => {
      const functions = (await ownerRightsFunctions(owner)).filter((f) => f.trigger).map((f) => f.function.replace(/\(\)$/, ''));
      const runBefore = await rowsOfRun(owner, registry, otherRun);
      const versioned = registry.tables.filter((t) => t.kind === 'versioned' && !t.businessKey.includes('execution_environment'));
      const attached: string[] = [];
      for (const principal of principals.filter((p) => p.role)) {
        const client = await principal.connect();
        try {
          for (const fn of functions) {
            // Any table of its own will do; a temporary one is all a login may create.
            const error = await rolledBack(client, async () => {
              const made = await failure(client, 'CREATE TEMP TABLE decoy (id bigint, execution_environment execution_environment)');
              if (made) return made;
              return failure(client, `CREATE TRIGGER decoy BEFORE INSERT OR DELETE ON pg_temp.decoy FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
            });
            if (!error) attached.push(`${principal.name}: ${fn}`);
            else expect(error.code, `${principal.name}: ${fn}: ${error.message}`).toBe('42501');
          }
          // The attacks as they were made, whatever the refusal above: the trigger of backtest_runs'
          // deletes fired on a row naming another run, and the key guard on a live row with a new key
          // (in a temporary table named as the real one: the guard read the table's name).
          const { rows: runTriggers } = await owner.query<{ fn: string }>(
            `SELECT t.tgfoid::regproc::text AS fn FROM pg_trigger t WHERE t.tgrelid = 'public.backtest_runs'::regclass AND NOT t.tgisinternal AND (t.tgtype & 8) <> 0`,
          );
          for (const { fn } of runTriggers) {
            await rolledBack(client, async () => {
              await step(client, `CREATE TEMP TABLE wipe (id bigint)`);
              await step(client, `CREATE TRIGGER wipe BEFORE DELETE ON pg_temp.wipe FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
              await step(client, `INSERT INTO pg_temp.wipe VALUES ($1)`, [otherRun]);
              await step(client, `DELETE FROM pg_temp.wipe`);
              await client.query('COMMIT').catch(() => undefined); // an attacker commits what it got
              await client.query('BEGIN');
            });
          }
          for (const table of versioned) {
            const key = `hardening-${principal.name}-${table.name}`.replace(/\W/g, '');
            const { rows: guards } = await owner.query<{ fn: string; args: string }>(
              `SELECT DISTINCT t.tgfoid::regproc::text AS fn, encode(t.tgargs, 'escape') AS args FROM pg_trigger t
                WHERE pg_partition_root(t.tgrelid) = $1::regclass AND NOT t.tgisinternal AND (t.tgtype & 4) <> 0 AND t.tgnargs > 0`,
              [`public.${ident(table.name)}`],
            );
            for (const guard of guards) {
              const args = guard.args.split('\\000').filter(Boolean).map((a) => `'${a}'`).join(', ');
              await rolledBack(client, async () => {
                const keyColumns = table.businessKey.map(ident).join(', ');
                // Partitioned, as the guard found its table's name through pg_partition_root().
                await step(client, `CREATE TEMP TABLE ${ident(table.name)} (LIKE ${ident(table.name)}) PARTITION BY LIST (execution_environment)`);
                await step(client, `CREATE TEMP TABLE squat_rows PARTITION OF pg_temp.${ident(table.name)} DEFAULT`);
                await step(client, `CREATE TRIGGER squat BEFORE INSERT ON pg_temp.${ident(table.name)} FOR EACH ROW EXECUTE FUNCTION ${guard.fn}(${args})`);
                const copy = `SELECT * FROM jsonb_populate_record(NULL::pg_temp.${ident(table.name)}, $1::jsonb)`;
                const row = Object.fromEntries([...table.businessKey.map((c) => [c, key]), ['execution_environment', 'live']]);
                await step(client, `ALTER TABLE pg_temp.${ident(table.name)} ${table.columns.filter((c) => c.notNull).map((c) => `ALTER COLUMN ${ident(c.name)} DROP NOT NULL`).join(', ')}`);
                await step(client, `INSERT INTO pg_temp.${ident(table.name)} ${copy}`, [JSON.stringify(row)]);
                await client.query('COMMIT').catch(() => undefined); // an attacker commits what it got
                await client.query('BEGIN');
              });
              const { rows: registered } = await owner.query(`SELECT 1 FROM precog_environment_keys WHERE business_key LIKE '%' || $1 || '%'`, [key]);
              expect(registered, `${principal.name} registered a live key of ${table.name} through ${guard.fn}`).toEqual([]);
            }
          }
        } finally {
          await endAll([client]);
        }
      }
      expect(attached).toEqual([]);
      expect(await rowsOfRun(owner, registry, otherRun)).toEqual(runBefore);
      const { rows: purged } = await owner.query(`SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'precog_purged'`);
      expect(purged).toEqual([]);
    });
  });

  it('an owner-rights trigger function refuses to run for a table it was not made for, even the owner\'s', async () => {
    await withBench(async ({ owner, registry, otherRun }) => {
      const client = await owner.connect();
      const runBefore = await rowsOfRun(owner, registry, otherRun);
      try {
        // Each SECURITY DEFINER trigger function, attached as one of its own triggers is, to a copy of that trigger's table.
        const { rows: uses } = await client.query<{ fn: string; def: string; root: string; tgtype: number; first: string }>(`
          SELECT DISTINCT ON (t.tgfoid) t.tgfoid::regproc::text AS fn, pg_get_triggerdef(t.oid) AS def,
                 (SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = t.tgrelid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum LIMIT 1) AS first,
                 coalesce(pg_partition_root(t.tgrelid), t.tgrelid)::regclass::text AS root, t.tgtype::int AS tgtype
            FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
           WHERE NOT t.tgisinternal AND p.prosecdef ORDER BY t.tgfoid, t.tgrelid`);
        expect(uses.length).toBeGreaterThan(0);
        const ran: string[] = [];
        for (const use of uses) {
          const trigger = use.def
            .replace(/^CREATE TRIGGER \S+/, 'CREATE TRIGGER decoy')
            .replace(/ ON \S+ /, ' ON pg_temp.decoy ')
            .replace(/ WHEN \(.*\) EXECUTE /, ' EXECUTE ');
          const events = [
            [4, 'INSERT INTO pg_temp.decoy SELECT * FROM pg_temp.decoy LIMIT 1'],
            [16, `UPDATE pg_temp.decoy SET ${ident(use.first)} = ${ident(use.first)}`],
            [8, 'DELETE FROM pg_temp.decoy'],
            [32, 'TRUNCATE pg_temp.decoy'],
          ] as const;
          await rolledBack(client, async () => {
            await client.query(`CREATE TEMP TABLE decoy (LIKE ${use.root} INCLUDING DEFAULTS) ON COMMIT DROP`);
            // The row the attack names: another run, or a row of the real table.
            const source = use.root === 'backtest_runs' ? `SELECT * FROM backtest_runs WHERE id = ${Number(otherRun)}` : `SELECT * FROM ${use.root} LIMIT 1`;
            const { rowCount } = await client.query(`INSERT INTO pg_temp.decoy ${source}`);
            if (!rowCount) {
              // A table with no row yet (a shared one): a row of NULLs fires the row triggers as well.
              const { rows: columns } = await client.query<{ name: string }>(`SELECT attname AS name FROM pg_attribute WHERE attrelid = 'pg_temp.decoy'::regclass AND attnum > 0 AND attnotnull`);
              for (const { name } of columns) await client.query(`ALTER TABLE pg_temp.decoy ALTER COLUMN ${ident(name)} DROP NOT NULL`);
              await client.query('INSERT INTO pg_temp.decoy DEFAULT VALUES');
            }
            await client.query(trigger.replace(/UPDATE OF [^O]+ON/, 'UPDATE ON'));
            for (const [bit, statement] of events) {
              if ((use.tgtype & bit) === 0) continue;
              const error = await attemptIn(client, statement);
              if (!error?.message.includes('[trigger-misplaced]')) ran.push(`${use.fn} on ${statement.split(' ')[0]}: ${error?.message ?? 'ran'}`);
            }
          });
        }
        expect(ran).toEqual([]);
        expect(await rowsOfRun(owner, registry, otherRun)).toEqual(runBefore);
      } finally {
        client.release();
      }
    });
  });
});
