/**
 * A backtest run for this test (migration 000013): every backtest row belongs to exactly one run,
 * live and paper rows to none. Made with create_backtest_run() on the connection the test writes
 * with, so inside withRollback it goes with the rollback, and in a database of the test's own it
 * goes with the database.
 */
import { precogDb, type BacktestRunId } from '../../src/index.js';
import type { Queryable } from '../../src/runtime/query.js';

export interface TestRun {
  /** backtest_runs.id, as db.backtests.get returns it (branded: what a scope's `run` takes). */
  id: BacktestRunId;
}

export interface TestRunOptions {
  label?: string;
  /**
   * Also file the transaction's later backtest rows under the run (`precog.backtest_run`, what a
   * backtest scope sets): for a test that writes backtest rows as the owner with the generated
   * queries, which do not name backtest_run_id. Live and paper rows written while it is set are
   * refused ([backtest-run-required]): call leaveRun() before writing them in the same transaction.
   */
  enter?: boolean;
}

/** Makes a run. Call it before reading or writing backtest rows in the transaction (its DDL locks them). */
export async function backtestRun(db: Queryable, options: TestRunOptions = {}): Promise<TestRun> {
  const { rows: [run] } = await db.query<{ id: string }>({
    text: `SELECT id::text AS id FROM create_backtest_run(NULL, '2024-01-01T00:00:00Z', '2024-12-31T00:00:00Z', NULL, '{}', $1)`,
    values: [options.label ?? 'test run'],
  });
  // A run id is branded: it comes from db.backtests (get), never from a cast.
  const made = { id: (await precogDb(db).backtests.get(run!.id))!.id };
  if (options.enter) await enterRun(db, made);
  return made;
}

/** Files the transaction's later backtest rows under `run` (the column's default), as a backtest scope does. */
export async function enterRun(db: Queryable, run: TestRun): Promise<void> {
  await db.query({ text: `SELECT public.precog_enter_backtest_run($1::bigint)`, values: [run.id] });
}

/** Undoes enterRun: rows written next belong to no run (live and paper). */
export async function leaveRun(db: Queryable): Promise<void> {
  await db.query({ text: `SELECT public.precog_enter_backtest_run(NULL)` });
}
