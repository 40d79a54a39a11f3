/**
 * Backtest runs (migration 000013): `db.backtests.create(...)`, `list()`, `get(id)`,
 * `finish(id)`, `delete(id)`, `load(run, rows)`.
 *
 * A run is a strategy (and model) version over a simulated period with parameters. The database
 * files every backtest row under exactly one run (migration 000018: every run in one backtest
 * partition per table, its indexes led by the run), so a run is one row to make and one row to
 * delete: its rows are hidden from every read at once and deleted afterwards by `sweep()`, in
 * bounded batches. Every other run, live and paper are untouched. Rows are written through
 * `db.scope('backtest', { api: 'none', run })`, or loaded in bulk by `load`.
 */
import { toDatabaseError } from '../runtime/database-errors.js';
import type { Json } from '../runtime/codecs.js';
import type { PositionKey } from '../environment/brand.js';
import type { Queryable } from '../runtime/query.js';
import { ConfigurationError } from '../runtime/errors.js';
import { type HeldClient, isPool, type Pool, type TargetOf, withGivenClient, withPoolClient } from '../connection/connections.js';
import { inTransaction } from '../connection/transactions.js';
import { type LoadOptions, type LoadResult, type RunRows, loadRun } from './load.js';

export type BacktestRunStatus = 'created' | 'running' | 'finished' | 'failed';

declare const runBrand: unique symbol;

/**
 * A backtest run's id (backtest_runs.id). Branded: only `db.backtests.create`, `list` and `get`
 * return one, so a strategy id, a count or any other number is not a run
 * (`db.backtests.delete(strategyId)` does not compile). From outside (the CLI's argument), look
 * the run up with `get(id)` first.
 */
export type BacktestRunId = bigint & { readonly [runBrand]: 'backtest_runs.id' };

/** A row of backtest_runs. */
export interface BacktestRun {
  id: BacktestRunId;
  strategy_id: number | null;
  model_id: number | null;
  strategy_version: string | null;
  model_version: string | null;
  parameters: Json;
  period_start: Date;
  period_end: Date;
  status: BacktestRunStatus;
  label: string | null;
  created_at: Date;
  finished_at: Date | null;
}

/** A run, or its id as create/list/get returned it: what a backtest scope and the run operations take. */
export type BacktestRunRef = BacktestRun | BacktestRunId;

export interface NewBacktestRun {
  strategy_id: number;
  model_id?: number | null;
  parameters?: Json;
  period_start: Date;
  period_end: Date;
  label?: string | null;
}

export interface BacktestRuns {
  /** Makes a run (status `created`): one row. */
  create(run: NewBacktestRun): Promise<BacktestRun>;
  /** The runs, newest first; of one strategy with `{ strategy_id }`. */
  list(filter?: { strategy_id?: number }): Promise<BacktestRun[]>;
  /** The run, or undefined; by a run, or by an id from outside the program (`'12'`, a CLI argument). */
  get(run: BacktestRunRef | bigint | number | string): Promise<BacktestRun | undefined>;
  /** Sets the status (`running`, `finished`, `failed`); finished and failed runs get `finished_at`. */
  setStatus(run: BacktestRunRef, status: BacktestRunStatus): Promise<BacktestRun>;
  /**
   * Deletes the run: when this resolves its rows, in every tagged table, are gone from every read
   * through a role (constant time, whatever the run's size). They are deleted by `sweep()`, which
   * `delete` starts without waiting for it (await `sweep()` to be sure nothing is left).
   */
  delete(run: BacktestRunRef): Promise<BacktestRun>;
  /**
   * Deletes the rows deleted runs left, in batches of at most `batchRows` rows (10,000), each its
   * own transaction (so none holds locks for long); resolves to how many rows it deleted.
   */
  sweep(options?: { batchRows?: number }): Promise<number>;
  /**
   * Bulk-loads an empty run: COPY into fresh tables, indexed and checked set-wise, attached as
   * the run's partitions in one transaction. All or nothing. See src/backtest/load.ts.
   */
  load(run: BacktestRunRef, rows: RunRows, options?: LoadOptions): Promise<LoadResult>;
  /** `n` new position keys (`POS-<n>` from the key sequence), for rows given to `load`. */
  positionKeys(n: number): Promise<PositionKey<'backtest'>[]>;
}

/** A run's id as digits, or undefined when `run` is none. */
export function runId(run: unknown): string | undefined {
  const value = run !== null && typeof run === 'object' && 'id' in run ? (run as { id: unknown }).id : run;
  if (typeof value === 'bigint' && value > 0n) return value.toString();
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return String(value);
  if (typeof value === 'string' && /^[1-9][0-9]{0,18}$/.test(value)) return value;
  return undefined;
}

function requiredRunId(run: unknown, what: string): string {
  const id = runId(run);
  if (id === undefined) throw new ConfigurationError([`${what}: ${JSON.stringify(String(run))} is not a backtest run (a run, or its id: a positive integer).`]);
  return id;
}

interface RunContext {
  connection: Pool | Queryable;
  target: TargetOf;
}

const RUN = (name: string) => ({ name, file: 'db.backtests' });

/** One statement on a client of the backtest connection, its faults typed. */
async function once<T>(context: RunContext, name: string, body: (client: HeldClient) => Promise<T>): Promise<T> {
  const { connection, target } = context;
  try {
    if (isPool(connection)) return await withPoolClient(connection, target, body);
    return await withGivenClient(connection, target, false, body);
  } catch (error) {
    throw toDatabaseError(error, RUN(name));
  }
}

async function rowsOf(client: HeldClient, name: string, text: string, values: unknown[] = []): Promise<BacktestRun[]> {
  try {
    const { rows } = await client.query<Record<string, unknown>>({ text, values });
    return rows.map(decodeRun);
  } catch (error) {
    throw toDatabaseError(error, RUN(name));
  }
}

function decodeRun(row: Record<string, unknown>): BacktestRun {
  // The one place a run id is made: from a row the database returned.
  return { ...(row as unknown as BacktestRun), id: BigInt(row.id as string) as BacktestRunId };
}

const COLUMNS = 'id, strategy_id, model_id, strategy_version, model_version, parameters, period_start, period_end, status, label, created_at, finished_at';

/** The run operations on the backtest connection (none given: each refuses, naming it). */
export function backtestRuns(context: RunContext | undefined): BacktestRuns {
  const need = (): RunContext => {
    if (!context) {
      throw new ConfigurationError(['db.backtests needs a backtest connection: precogDb({ backtest: pool, ... }) with the backtest login (README, Deploying).']);
    }
    return context;
  };
  const sweep = async ({ batchRows = 10_000 }: { batchRows?: number } = {}) => {
    if (!Number.isSafeInteger(batchRows) || batchRows < 1) throw new ConfigurationError([`db.backtests.sweep: batchRows ${String(batchRows)} is not a positive count.`]);
    let total = 0;
    for (;;) {
      const deleted = await once(need(), 'sweepBacktestRuns', async (client) => {
        try {
          const { rows } = await client.query<{ deleted: string }>({ text: 'SELECT public.precog_backtest_sweep($1) AS deleted', values: [batchRows] });
          return Number(rows[0]!.deleted);
        } catch (error) {
          throw toDatabaseError(error, RUN('sweepBacktestRuns'));
        }
      });
      total += deleted;
      if (deleted === 0) return total;
    }
  };
  const missing = (id: string) => new ConfigurationError([`There is no backtest run ${id}: list them with db.backtests.list() (npm run backtests -- list).`]);
  return {
    async create(run) {
      if (!run || !(run.period_start instanceof Date) || !(run.period_end instanceof Date)) {
        throw new ConfigurationError(['db.backtests.create: period_start and period_end are Dates (the simulated period).']);
      }
      const [made] = await once(need(), 'createBacktestRun', (client) =>
        rowsOf(client, 'createBacktestRun', `SELECT ${COLUMNS} FROM public.create_backtest_run($1, $2, $3, $4, $5, $6)`, [
          run.strategy_id,
          run.period_start,
          run.period_end,
          run.model_id ?? null,
          JSON.stringify(run.parameters ?? {}),
          run.label ?? null,
        ]),
      );
      return made!;
    },
    list(filter = {}) {
      return once(need(), 'listBacktestRuns', (client) =>
        rowsOf(client, 'listBacktestRuns', `SELECT ${COLUMNS} FROM public.backtest_runs WHERE ($1::integer IS NULL OR strategy_id = $1) ORDER BY id DESC`, [
          filter.strategy_id ?? null,
        ]),
      );
    },
    async get(run) {
      const id = requiredRunId(run, 'db.backtests.get');
      const [found] = await once(need(), 'getBacktestRun', (client) => rowsOf(client, 'getBacktestRun', `SELECT ${COLUMNS} FROM public.backtest_runs WHERE id = $1`, [id]));
      return found;
    },
    async setStatus(run, status) {
      const id = requiredRunId(run, 'db.backtests.setStatus');
      if (!['created', 'running', 'finished', 'failed'].includes(status)) {
        throw new ConfigurationError([`db.backtests.setStatus: status ${JSON.stringify(status)} is none of created, running, finished, failed.`]);
      }
      const [updated] = await once(need(), 'setBacktestRunStatus', (client) =>
        rowsOf(
          client,
          'setBacktestRunStatus',
          `UPDATE public.backtest_runs SET status = $2, finished_at = CASE WHEN $2 IN ('finished', 'failed') THEN coalesce(finished_at, now()) END
            WHERE id = $1 RETURNING ${COLUMNS}`,
          [id, status],
        ),
      );
      if (!updated) throw missing(id);
      return updated;
    },
    async delete(run) {
      const id = requiredRunId(run, 'db.backtests.delete');
      const [deleted] = await once(need(), 'deleteBacktestRun', (client) =>
        rowsOf(client, 'deleteBacktestRun', `DELETE FROM public.backtest_runs WHERE id = $1 RETURNING ${COLUMNS}`, [id]),
      );
      if (!deleted) throw missing(id);
      // Its rows are hidden already; they are deleted in batches after this, each batch its own
      // transaction. One that fails (the pool ended) is left to the next sweep.
      void sweep().catch(() => undefined);
      return deleted;
    },
    sweep,
    load(run, rows, options) {
      const id = requiredRunId(run, 'db.backtests.load');
      const { connection, target } = need();
      return inTransaction(connection, target, RUN('loadBacktestRun'), (client) => loadRun(client, id, rows, options));
    },
    async positionKeys(n) {
      if (!Number.isSafeInteger(n) || n < 0) throw new ConfigurationError([`db.backtests.positionKeys: ${String(n)} is not a count.`]);
      return once(need(), 'positionKeys', async (client) => {
        const { rows } = await client.query<{ key: string }>({
          text: `SELECT pg_catalog.concat('POS-', pg_catalog.nextval('public.position_key_seq'::regclass)) AS key FROM generate_series(1, $1::integer)`,
          values: [n],
        });
        // Issued by the database for this load's positions: backtest keys.
        return rows.map((row) => row.key as PositionKey<'backtest'>);
      });
    },
  };
}
