/**
 * Candidate layouts for backtest runs (issue 21, ADR-110), measured in scratch databases with a
 * reduced tagged table (one table, three indexes, the policies of the framework), at 10, 1,000
 * and 10,000 runs:
 *
 *   list      today (000013): <t>_backtest LIST-partitioned by run, a partition per run; the
 *             [backtest-run] policy compares the run with a setting (prunes at execution only)
 *   list+run  the same layout, each run-scope statement carrying its run as a value the planner
 *             sees (plan-time pruning)
 *   hash      runs hashed into 64 partitions of <t>_backtest; the same policy
 *   single    one <t>_backtest partition, backtest_run_id leading its indexes; a delete is a
 *             tombstone (the run's row goes, a restrictive policy hides its rows at once) and a
 *             bounded background reclaim deletes the rows in batches
 *
 *   npx tsx bench/layouts.ts postgres://postgres@127.0.0.1:55431/postgres [rows=2000000] [sizes=10,1000,10000]
 *
 * The server should run with PostgreSQL's default max_locks_per_transaction (64): a layout that
 * needs more fails here as it would on a managed server. Prints a table and the JSON.
 */
import pg from 'pg';
import { median, now } from './support.js';

type Layout = 'list' | 'list+run' | 'hash' | 'single';
const url = process.argv[2] ?? 'postgres://postgres@127.0.0.1:55431/postgres';
const totalRows = Number(process.argv[3] ?? 2_000_000);
const sizes = (process.argv[4] ?? '10,1000,10000').split(',').map(Number);
const layouts = (process.argv[5] ?? 'single,hash,list').split(',') as Layout[]; // list measures list+run too
const HASH_PARTITIONS = 64;

async function client(database: string) {
  const u = new URL(url);
  u.pathname = `/${database}`;
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  return c;
}

async function build(admin: pg.Client, layout: Layout, runs: number): Promise<string> {
  const name = `layouts_${layout.replace('+', '_')}_${runs}`;
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  const db = await client(name);
  const partitioned = layout === 'list' || layout === 'list+run' ? 'PARTITION BY LIST (run)' : layout === 'hash' ? 'PARTITION BY HASH (run)' : '';
  await db.query(`
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bt') THEN CREATE ROLE bt; END IF;
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'analyst') THEN CREATE ROLE analyst; END IF;
    END $$;
    CREATE TYPE env AS ENUM ('live', 'paper', 'backtest');
    CREATE TABLE runs (id bigint PRIMARY KEY, strategy int NOT NULL);
    CREATE TABLE runs_deleted (id bigint PRIMARY KEY);
    CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY, env env NOT NULL, run bigint, market text NOT NULL,
                    price numeric(10,4) NOT NULL, qty int NOT NULL, at timestamptz NOT NULL DEFAULT now()) PARTITION BY LIST (env);
    CREATE TABLE t_live PARTITION OF t FOR VALUES IN ('live');
    CREATE TABLE t_paper PARTITION OF t FOR VALUES IN ('paper');
    CREATE TABLE t_backtest PARTITION OF t FOR VALUES IN ('backtest') ${partitioned};
    CREATE UNIQUE INDEX t_key ON t (id, env, run) NULLS NOT DISTINCT;
    CREATE INDEX t_run_id ON t (run, id);
    CREATE INDEX t_market ON t (market, at);
    ALTER TABLE t ENABLE ROW LEVEL SECURITY;
    CREATE POLICY everyone ON t TO bt, analyst USING (true) WITH CHECK (true);
    CREATE POLICY bt_env ON t AS RESTRICTIVE TO bt USING (env = 'backtest') WITH CHECK (env = 'backtest');
    GRANT SELECT, INSERT ON t TO bt, analyst;
    GRANT SELECT ON runs, runs_deleted TO bt, analyst;
  `);
  if (layout === 'single') {
    // The run must exist (a deleted run's rows are hidden at once); the analyst does not see tombstoned runs.
    await db.query(`
      CREATE POLICY bt_run ON t AS RESTRICTIVE TO bt
        USING (run = (SELECT r.id FROM runs r WHERE r.id = nullif(current_setting('precog.run', true), '')::bigint))
        WITH CHECK (run = (SELECT r.id FROM runs r WHERE r.id = nullif(current_setting('precog.run', true), '')::bigint));
      CREATE POLICY analyst_deleted ON t AS RESTRICTIVE TO analyst USING (run IS NULL OR run NOT IN (SELECT d.id FROM runs_deleted d));`);
  } else {
    await db.query(`
      CREATE POLICY bt_run ON t AS RESTRICTIVE TO bt
        USING (run = (SELECT nullif(current_setting('precog.run', true), '')::bigint))
        WITH CHECK (run = (SELECT nullif(current_setting('precog.run', true), '')::bigint));`);
  }
  if (layout === 'hash') {
    for (let i = 0; i < HASH_PARTITIONS; i++) {
      await db.query(`CREATE TABLE t_h${i} PARTITION OF t_backtest FOR VALUES WITH (MODULUS ${HASH_PARTITIONS}, REMAINDER ${i})`);
    }
  }
  await db.query(`INSERT INTO runs SELECT g, g % 10 FROM generate_series(1, ${runs}) g`);
  if (layout === 'list' || layout === 'list+run') {
    for (let i = 1; i <= runs; i++) await db.query(`CREATE TABLE t_run_${i} PARTITION OF t_backtest FOR VALUES IN (${i})`);
  }
  await db.query(`INSERT INTO t (env, market, price, qty) SELECT 'live', 'M-' || (g % 300), 0.5, 1 FROM generate_series(1, 20000) g`);
  await db.query(`INSERT INTO t (env, run, market, price, qty)
                  SELECT 'backtest', 1 + (g % ${runs}), 'M-' || (g % 300), (g % 100) / 100.0, 1 + g % 25 FROM generate_series(1, ${totalRows}) g`);
  await db.query('VACUUM ANALYZE');
  await db.end();
  return name;
}

async function locks(db: pg.Client) {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation'`,
  );
  return rows[0]!.n;
}

/** Median of `times` samples, each over another run. */
async function measure(layout: Layout, database: string, runs: number, keep = false) {
  const db = await client(database);
  try {
    return await measureOn(db, layout, runs, keep);
  } finally {
    await db.end();
  }
}

async function measureOn(db: pg.Client, layout: Layout, runs: number, keep: boolean) {
  const pick = (i: number) => 1 + ((i * 7919) % runs);
  const out: Record<string, unknown> = { layout, runs };
  const read: number[] = [];
  const readLocks: number[] = [];
  const write: number[] = [];
  const writeLocks: number[] = [];
  for (let i = 0; i < 9; i++) {
    const run = pick(i);
    const bound = layout === 'list+run' ? ` AND run = ${run}` : '';
    try {
      await db.query('BEGIN');
      await db.query(`SET LOCAL ROLE bt; SET LOCAL precog.run = '${run}'`);
      const plan = await db.query(`EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM t WHERE env = 'backtest'${bound} ORDER BY id DESC LIMIT 50`);
      const p = (plan.rows[0] as { 'QUERY PLAN': { 'Planning Time': number; 'Execution Time': number }[] })['QUERY PLAN'][0]!;
      read.push(p['Planning Time'] + p['Execution Time']);
      readLocks.push(await locks(db));
      await db.query('ROLLBACK');
      await db.query('BEGIN');
      await db.query(`SET LOCAL ROLE bt; SET LOCAL precog.run = '${run}'`);
      const started = now();
      await db.query(`INSERT INTO t (env, run, market, price, qty) VALUES ('backtest', ${run}, 'M-1', 0.42, 3)`);
      write.push(now() - started);
      writeLocks.push(await locks(db));
      await db.query('ROLLBACK');
    } catch (error) {
      await db.query('ROLLBACK').catch(() => undefined);
      out.readError = (error as Error).message;
      break;
    }
  }
  Object.assign(out, { readMs: median(read), readLocks: median(readLocks), writeMs: median(write), writeLocks: median(writeLocks) });

  // A run's comparison, as the analyst: every run of one strategy (a tenth of the runs).
  const compare: number[] = [];
  for (let i = 0; i < 3; i++) {
    await db.query('BEGIN; SET LOCAL ROLE analyst');
    const started = now();
    await db.query(`SELECT t.run, count(*), sum(t.price * t.qty) FROM t JOIN runs r ON r.id = t.run
                     WHERE t.env = 'backtest' AND r.strategy = 3 GROUP BY t.run`);
    compare.push(now() - started);
    await db.query('ROLLBACK');
  }
  out.compareStrategyMs = median(compare);
  // list+run shares list's database and layout: its create, delete and purge are list's.
  if (keep) return out;

  // Create a run.
  const create: number[] = [];
  const { rows: top } = await db.query<{ id: string }>('SELECT max(id)::text AS id FROM runs');
  for (let i = 0; i < 5; i++) {
    const id = Number(top[0]!.id) + 1 + i;
    const started = now();
    await db.query('BEGIN');
    await db.query(`INSERT INTO runs VALUES (${id}, 1)`);
    if (layout === 'list' || layout === 'list+run') await db.query(`CREATE TABLE t_run_${id} PARTITION OF t_backtest FOR VALUES IN (${id})`);
    await db.query('COMMIT');
    create.push(now() - started);
  }
  out.createMs = median(create);

  // Delete a run (totalRows / runs rows): hidden from every read at once.
  const remove: number[] = [];
  const reclaimBatch: number[] = [];
  const reclaimTotal: number[] = [];
  for (let i = 0; i < 3; i++) {
    const run = pick(100 + i);
    const started = now();
    await db.query('BEGIN');
    if (layout === 'list' || layout === 'list+run') {
      await db.query(`ALTER TABLE t_backtest DETACH PARTITION t_run_${run}`);
      await db.query(`DELETE FROM runs WHERE id = ${run}`);
      await db.query('COMMIT');
      remove.push(now() - started);
      const dropped = now();
      await db.query(`DROP TABLE t_run_${run}`);
      reclaimTotal.push(now() - dropped);
    } else {
      await db.query(`DELETE FROM runs WHERE id = ${run}`);
      await db.query(`INSERT INTO runs_deleted VALUES (${run})`);
      await db.query('COMMIT');
      remove.push(now() - started);
      // Reclaim: batches of at most 10,000 rows, each its own transaction.
      const reclaimStarted = now();
      for (;;) {
        const batch = now();
        const { rowCount } = await db.query(
          `DELETE FROM t_backtest WHERE ctid = ANY (ARRAY(SELECT ctid FROM t_backtest WHERE run = ${run} LIMIT 10000))`,
        );
        reclaimBatch.push(now() - batch);
        if (!rowCount) break;
      }
      await db.query(`DELETE FROM runs_deleted WHERE id = ${run}`);
      reclaimTotal.push(now() - reclaimStarted);
    }
  }
  Object.assign(out, { deleteMs: median(remove), reclaimBatchMs: median(reclaimBatch), reclaimBatchMaxMs: Math.max(0, ...reclaimBatch), reclaimTotalMs: median(reclaimTotal) });

  // Purge every run, in one transaction (what purge_backtest_data() does), rolled back.
  try {
    const started = now();
    await db.query('BEGIN');
    if (layout === 'list' || layout === 'list+run') {
      const { rows } = await db.query<{ name: string }>(`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 't_backtest'::regclass`);
      for (let i = 0; i < rows.length; i += 500) await db.query(`DROP TABLE ${rows.slice(i, i + 500).map((r) => r.name).join(', ')}`);
    } else {
      await db.query('TRUNCATE t_backtest');
    }
    await db.query('DELETE FROM runs');
    out.purgeLocks = await locks(db);
    await db.query(keep ? 'ROLLBACK' : 'COMMIT');
    out.purgeMs = now() - started;
  } catch (error) {
    await db.query('ROLLBACK').catch(() => undefined);
    out.purgeError = (error as Error).message;
  }
  const { rows: relations } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace`);
  out.relations = relations[0]!.n;
  return out;
}

const admin = await client('postgres');
const { rows: setting } = await admin.query<{ max_locks_per_transaction: string }>('SHOW max_locks_per_transaction');
console.error(`max_locks_per_transaction = ${setting[0]!.max_locks_per_transaction}; ${totalRows} backtest rows`);
const results: Record<string, unknown>[] = [];
for (const runs of sizes) {
  for (const layout of layouts) {
    const started = now();
    const database = await build(admin, layout === 'list+run' ? 'list' : layout, runs);
    console.error(`built ${database} in ${((now() - started) / 1000).toFixed(1)} s`);
    // list+run reads the same database first (its purge is rolled back); list's purge then commits.
    const variants: Layout[] = layout === 'list' ? ['list+run', 'list'] : [layout];
    for (const variant of variants) {
      const result = await measure(variant, database, runs, variant === 'list+run').catch((error: Error) => ({ layout: variant, runs, error: error.message }));
      console.error(JSON.stringify(result));
      results.push(result);
    }
    await admin.query(`DROP DATABASE ${database}`);
  }
}
await admin.end();
console.log(JSON.stringify(results, null, 2));
