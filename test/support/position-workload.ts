/**
 * Concurrent fills and price updates on shared positions, each an SCD Type 2 close + insert,
 * retried the way an application must: on serialization failure (40001), deadlock (40P01), and
 * on a lost race under READ COMMITTED (the statement returned 0 rows).
 */
import type pg from 'pg';
import { SCD_FILL, SCD_PRICE_UPDATE } from './environment-fixtures.js';

export type Isolation = 'READ COMMITTED' | 'REPEATABLE READ';

/** One fill: `quantity` contracts at `price` with `fee`, recorded with a unique order id. */
export interface Fill {
  kind: 'fill';
  key: string;
  quantity: number;
  /** Dollars as a decimal string, never a float. */
  price: string;
  fee: string;
  orderId: string;
}
/** A price update: current_price += 0.0001 (relative, so the final price does not depend on the order). */
export interface Mark {
  kind: 'mark';
  key: string;
}
/** Two fills on two positions in one transaction, in a random order: the deadlock-prone case. */
export interface Pair {
  kind: 'pair';
  fills: [Fill, Fill];
}
export type Operation = Fill | Mark | Pair;

export const MARK_STEP = '0.0001';

export interface WorkerReport {
  /** Operations whose COMMIT was acknowledged. */
  acknowledged: Operation[];
  /** Operations attempted but not acknowledged (the in-flight one when the worker stopped). */
  unacknowledged: Operation[];
  retries: { serialization: number; deadlock: number; lostRace: number };
  /** The error that stopped the worker, if any. */
  error?: unknown;
}

/** A small deterministic PRNG, so a failing run can be replayed. */
export function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

/** `count` operations for worker `worker` on `keys`: about half fills, 40% price updates, 10% pairs. */
export function plan(worker: number, count: number, keys: string[], tag: string): Operation[] {
  const next = random(worker * 7919 + 17);
  const pick = () => keys[Math.floor(next() * keys.length)]!;
  let fills = 0;
  const fill = (key: string): Fill => ({
    kind: 'fill',
    key,
    quantity: 1 + Math.floor(next() * 9),
    price: (0.01 + Math.floor(next() * 98) / 100).toFixed(4),
    fee: (Math.floor(next() * 7) / 100).toFixed(4),
    orderId: `${tag}-w${worker}-${fills++}`,
  });
  return Array.from({ length: count }, (): Operation => {
    const roll = next();
    if (roll < 0.5) return fill(pick());
    if (roll < 0.9) return { kind: 'mark', key: pick() };
    const first = pick();
    const second = keys.find((key) => key !== first && next() < 0.5) ?? keys.find((key) => key !== first)!;
    return { kind: 'pair', fills: [fill(first), fill(second)] };
  });
}

class LostRace extends Error {}

/** A connection that dies between two queries emits 'error'; without a listener node would crash. */
const guarded = new WeakSet<pg.PoolClient>();
function guard(client: pg.PoolClient): pg.PoolClient {
  if (!guarded.has(client)) {
    client.on('error', () => undefined);
    guarded.add(client);
  }
  return client;
}

async function applyOnce(client: pg.PoolClient, operation: Operation, isolation: Isolation): Promise<void> {
  await client.query(`BEGIN ISOLATION LEVEL ${isolation}`);
  const steps: (Fill | Mark)[] = operation.kind === 'pair' ? operation.fills : [operation];
  for (const step of steps) {
    const result =
      step.kind === 'fill'
        ? await client.query(SCD_FILL, [step.key, step.quantity, step.price, step.fee, step.orderId])
        : await client.query(SCD_PRICE_UPDATE, [step.key, MARK_STEP]);
    // READ COMMITTED: the version we waited for was replaced meanwhile; nothing was written.
    if (result.rowCount !== 1) throw new LostRace(`${step.kind} on ${step.key} lost the race`);
  }
  await client.query('COMMIT');
}

export interface RunOptions {
  isolation: Isolation;
  /** Stop after the in-flight operation when this returns true. */
  stop?: () => boolean;
  /** Called after each acknowledged operation. */
  onAcknowledged?: () => void;
  maxAttempts?: number;
}

/**
 * Applies `operations` in order on connections from `pool`, retrying each until it commits.
 * Any other error stops the worker and is reported (the test decides whether it was expected).
 */
export async function runWorker(pool: pg.Pool, operations: Operation[], options: RunOptions): Promise<WorkerReport> {
  const report: WorkerReport = { acknowledged: [], unacknowledged: [], retries: { serialization: 0, deadlock: 0, lostRace: 0 } };
  const maxAttempts = options.maxAttempts ?? 200;
  for (const operation of operations) {
    if (options.stop?.()) break;
    for (let attemptNo = 1; ; attemptNo++) {
      let client: pg.PoolClient | undefined;
      try {
        client = guard(await pool.connect());
        await applyOnce(client, operation, options.isolation);
        client.release();
        report.acknowledged.push(operation);
        options.onAcknowledged?.();
        break;
      } catch (error) {
        const code = (error as { code?: string }).code;
        const retryable = error instanceof LostRace || code === '40001' || code === '40P01';
        if (client) {
          // A broken connection is destroyed rather than returned to the pool.
          const rolledBack = await client.query('ROLLBACK').then(() => true, () => false);
          client.release(rolledBack ? undefined : true);
        }
        if (!retryable || attemptNo >= maxAttempts) {
          report.unacknowledged.push(operation);
          report.error = error;
          return report;
        }
        if (error instanceof LostRace) report.retries.lostRace++;
        else if (code === '40001') report.retries.serialization++;
        else report.retries.deadlock++;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(attemptNo, 10)));
      }
    }
  }
  return report;
}

/** Every fill of a list of operations, pairs unfolded. */
export function fillsOf(operations: Operation[]): Fill[] {
  return operations.flatMap((operation) => (operation.kind === 'pair' ? operation.fills : operation.kind === 'fill' ? [operation] : []));
}

/** Per position key: versions written (1 per fill or mark), contracts filled, fees, marks. */
export function expectedTotals(operations: Operation[], keys: string[]) {
  const totals = new Map(keys.map((key) => [key, { versions: 0, quantity: 0, feeCents: 0, marks: 0, fills: 0 }]));
  for (const operation of operations) {
    for (const step of operation.kind === 'pair' ? operation.fills : [operation]) {
      const total = totals.get(step.key)!;
      total.versions++;
      if (step.kind === 'mark') total.marks++;
      else {
        total.fills++;
        total.quantity += step.quantity;
        total.feeCents += Math.round(Number(step.fee) * 100);
      }
    }
  }
  return totals;
}

/** Opens one position per environment-less key spec; returns the keys. */
export async function openPositions(client: pg.ClientBase, count: number, environment: string, market: string): Promise<string[]> {
  const { rows } = await client.query<{ position_key: string }>(
    `INSERT INTO positions (position_key, market_id, side, entry_price, quantity, current_price, fees, status, execution_environment)
     SELECT 'POS-' || nextval('position_key_seq'), $2, 'YES', 0.5000, 100, 0.5000, 0, 'open', $3::execution_environment
     FROM generate_series(1, $1::int)
     RETURNING position_key`,
    [count, market, environment],
  );
  return rows.map((row) => row.position_key);
}

/**
 * The invariants that must hold whatever happened: exactly one current version per position,
 * an unbroken chain of versions (each starts when the previous ended), and every version after
 * the first that raised the quantity paired with exactly the trade that did it.
 */
export async function integrityProblems(client: pg.ClientBase | pg.Pool, keys: string[]): Promise<string[]> {
  const { rows } = await client.query<{ problem: string }>(
    `WITH versions AS (
       SELECT p.*, lag(p.row_end_ts) OVER w AS previous_end, lag(p.quantity) OVER w AS previous_quantity,
              row_number() OVER w AS n
       FROM positions p WHERE p.position_key = ANY($1) WINDOW w AS (PARTITION BY p.position_key ORDER BY p.row_start_ts, p.id)
     )
     SELECT format('%s has %s current versions', position_key, count(*) FILTER (WHERE row_current_ind)) AS problem
     FROM versions GROUP BY position_key HAVING count(*) FILTER (WHERE row_current_ind) <> 1
     UNION ALL
     SELECT format('%s version %s starts at %s, the previous ended at %s', position_key, id, row_start_ts, previous_end)
     FROM versions WHERE n > 1 AND previous_end IS DISTINCT FROM row_start_ts
     UNION ALL
     SELECT format('%s version %s raised the quantity by %s, its trades add %s', v.position_key, v.id,
                   v.quantity - v.previous_quantity, coalesce(sum(t.quantity), 0))
     FROM versions v LEFT JOIN trades t ON t.position_id = v.id
     WHERE v.n > 1
     GROUP BY v.position_key, v.id, v.quantity, v.previous_quantity
     HAVING v.quantity - v.previous_quantity <> coalesce(sum(t.quantity), 0)
     UNION ALL
     SELECT format('trade %s references %s version %s of another environment', t.id, p.position_key, p.id)
     FROM trades t JOIN positions p ON p.id = t.position_id
     WHERE p.position_key = ANY($1) AND p.execution_environment <> t.execution_environment`,
    [keys],
  );
  return rows.map((row) => row.problem);
}
