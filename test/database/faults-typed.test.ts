/**
 * Issue 15, "Faults reach the caller as typed errors, and nothing crashes the process".
 *
 * Concurrent work through every public path (plain calls, scoped calls with and without
 * environment roles, SCD writes, scope.transaction, bulk writes, shared and cross-environment
 * reads, the retry option) while, from the side, statements are cancelled (pg_cancel_backend),
 * backends terminated (pg_terminate_backend) and the server is SIGKILLed and restarted twice.
 * Then: every rejected call carries one of precog-db's typed errors (connection errors naming
 * host, port and database, never the password); no uncaught exception or unhandled rejection;
 * every acknowledged write is in the database; and a failed write is absent unless its error is
 * OutcomeUnknownError, the one class whose write may or may not have landed.
 *
 * On a throwaway server: the shared embedded server serves every other test and must never be killed.
 * Bounded by RUN_MS; nothing is asserted about timing (which calls fail depends on the moment).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { migrate, watch } from 'graphile-migrate';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConnectionError,
  ConnectionFailedError,
  ConnectionLostError,
  ConstraintViolationError,
  DatabaseError,
  Decimal,
  EnvironmentMismatchError,
  EnvironmentRuleError,
  InvalidValueError,
  OutcomeUnknownError,
  precogDb,
  QueryCancelledError,
  RetryableConflictError,
  StatementTimeoutError,
} from 'precog-db';
import { quietLogger } from '../../src/migrations/logger.js';
import { hasCurrentMigration } from '../../src/migrations/fresh-database.js';
import { migrateSettings } from '../../src/migrations/settings.js';
import type { ServerTarget } from '../../src/server/connection-string.js';
import { ensureDatabase } from '../../src/server/resolve.js';
import { backtestRun } from '../support/backtest-run.js';
import { startThrowawayServer, type ThrowawayServer } from '../support/throwaway-server.js';

const DATABASE = 'precog_faults_typed';
const WORKERS = 14;
const RUN_MS = 24_000;
/** When the server is SIGKILLed (ms into the run), and how long it stays down before the restart. */
const KILLS = [
  { at: 6_000, down: 1_500 },
  { at: 14_000, down: 500 },
];

/** Every class a rejected call may carry. Base DatabaseError and raw errors are not among them. */
const TYPED = [
  ConnectionFailedError,
  ConnectionLostError,
  OutcomeUnknownError,
  QueryCancelledError,
  StatementTimeoutError,
  RetryableConflictError,
  EnvironmentRuleError,
  ConstraintViolationError,
  InvalidValueError,
  EnvironmentMismatchError,
];

/** What a call writes, known before it runs: trades by order_id, position versions by (key, unique price). */
interface Write {
  /** The environment of the scope that wrote it: a row must never be found in another. */
  environment?: 'paper' | 'backtest';
  trades: string[];
  versions: { key: string; price: string }[];
}
interface Call {
  path: string;
  write?: Write;
  error?: unknown;
}

describe('faults reach callers as typed errors, and nothing crashes the process', () => {
  let throwaway: ThrowawayServer;
  let server: ServerTarget;

  beforeAll(async () => {
    throwaway = await startThrowawayServer();
    server = throwaway.server;
    await ensureDatabase(server, DATABASE);
    await migrate({ ...migrateSettings(server, DATABASE), logger: quietLogger });
    // And the migration being written (current.sql), as the other tests have it.
    if (hasCurrentMigration()) await watch({ ...migrateSettings(server, DATABASE), logger: quietLogger }, true);
  }, 120_000);
  afterAll(() => throwaway?.destroy());

  it('SIGKILL and restart, cancels and terminations: typed errors only, acknowledged writes kept', { timeout: 180_000 }, async () => {
    const uncaught: unknown[] = [];
    const unhandled: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    const onUnhandled = (error: unknown) => unhandled.push(error);
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUnhandled);

    const options = { host: server.host, port: server.port, user: server.user, password: server.password, database: DATABASE };
    // No pool.on('error') here: precog-db must keep an idle connection's error from crashing the process.
    const pool = new pg.Pool({ ...options, max: 12, connectionTimeoutMillis: 3_000 });
    // A pool whose statements give up on a lock after 5 ms: SCD writes contend, so some time out.
    const impatientPool = new pg.Pool({ ...options, max: 2, connectionTimeoutMillis: 3_000, options: '-c lock_timeout=5' });
    // And one whose statements may run 3 ms at most: a bulk write of 400 fills takes longer (StatementTimeoutError).
    const hastyPool = new pg.Pool({ ...options, max: 2, connectionTimeoutMillis: 3_000, options: '-c statement_timeout=3' });
    const plain = precogDb(pool);
    const roles = precogDb(pool, { environmentRoles: true });
    const retrying = precogDb(pool, { retryConnectionFailures: { attempts: 3, backoffMs: 50 } });
    const impatient = precogDb(impatientPool);
    const hasty = precogDb(hastyPool);

    try {
      const { id: run } = await backtestRun(pool);
      const paper = plain.scope('paper', { api: 'demo' });
      const backtest = plain.scope('backtest', { api: 'none', run });
      const paperRoles = roles.scope('paper', { api: 'demo' });
      const backtestRoles = roles.scope('backtest', { api: 'none', run });
      const paperRetrying = retrying.scope('paper', { api: 'demo' });
      const paperImpatient = impatient.scope('paper', { api: 'demo' });
      const backtestHasty = hasty.scope('backtest', { api: 'none', run });

      const position = {
        market_id: 'MKT-FAULTS-TYPED',
        side: 'YES' as const,
        entry_price: new Decimal('0.5'),
        quantity: 10,
        fees: new Decimal('0'),
      };
      const paperKeys = await Promise.all([1, 2, 3].map(async () => (await paper.openPosition(position)).position_key));
      const backtestKeys = await Promise.all([1, 2, 3].map(async () => (await backtest.openPosition(position)).position_key));

      let sequence = 0;
      let priceCounter = 0;
      /** A price no other call writes (1..9999 ten-thousandths), so a version can be looked up by it. */
      const uniquePrice = () => new Decimal(1 + (priceCounter++ % 9_999)).div(10_000);
      const orderId = () => `FT-${++sequence}`;
      const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)]!;
      const fill = (order_id: string) => ({
        market_id: 'MKT-FAULTS-TYPED',
        order_id,
        side: 'buy' as const,
        price: new Decimal('0.5'),
        quantity: 1,
        fees: new Decimal('0.01'),
        trade_source: 'manual' as const,
        order_type: 'limit' as const,
      });
      const fills = (n: number) => {
        const ids = Array.from({ length: n }, orderId);
        const column = <T>(value: T) => ids.map(() => value);
        return {
          ids,
          params: {
            market_ids: column('MKT-FAULTS-TYPED'),
            position_ids: column(null),
            strategy_ids: column(null),
            model_ids: column(null),
            order_ids: ids,
            sides: column('sell' as const),
            prices: column(new Decimal('0.25')),
            quantities: column(2),
            fees: column(new Decimal('0')),
            trade_sources: column('manual' as const),
            order_types: column('market' as const),
            execution_times: column(null),
            calculated_probabilities: column(null),
            market_prices: column(null),
            edge_values: column(null),
            trade_metadata: column(null),
          },
        };
      };

      /** One call of each public path; each knows what it writes before it runs. */
      const operations: (() => { path: string; write?: Write; run: () => Promise<unknown> })[] = [
        () => {
          const id = orderId();
          return { path: 'plain recordTrade', write: { environment: 'paper', trades: [id], versions: [] }, run: () => paper.recordTrade(fill(id)) };
        },
        () => {
          const id = orderId();
          return { path: 'roles recordTrade', write: { environment: 'backtest', trades: [id], versions: [] }, run: () => backtestRoles.recordTrade(fill(id)) };
        },
        () => {
          const key = pick(paperKeys);
          const price = uniquePrice();
          return {
            path: 'plain updatePositionPrice (SCD)',
            write: { trades: [], versions: [{ key, price: price.toFixed(4) }] },
            run: () => paper.updatePositionPrice({ position_key: key, current_price: price }),
          };
        },
        () => {
          const key = pick(backtestKeys);
          const price = uniquePrice();
          return {
            path: 'roles updatePositionPrice (SCD)',
            write: { trades: [], versions: [{ key, price: price.toFixed(4) }] },
            run: () => backtestRoles.updatePositionPrice({ position_key: key, current_price: price }),
          };
        },
        () => {
          const key = pick(paperKeys);
          const price = uniquePrice();
          return {
            path: 'retrying updatePositionPrice (SCD)',
            write: { trades: [], versions: [{ key, price: price.toFixed(4) }] },
            run: () => paperRetrying.updatePositionPrice({ position_key: key, current_price: price }),
          };
        },
        () => {
          const key = pick(paperKeys);
          const price = uniquePrice();
          return {
            path: 'lock_timeout updatePositionPrice (SCD)',
            write: { trades: [], versions: [{ key, price: price.toFixed(4) }] },
            run: () => paperImpatient.updatePositionPrice({ position_key: key, current_price: price }),
          };
        },
        () => {
          const id = orderId();
          const key = pick(paperKeys);
          const price = uniquePrice();
          return {
            path: 'plain scope.transaction',
            write: { environment: 'paper', trades: [id], versions: [{ key, price: price.toFixed(4) }] },
            run: () =>
              paper.transaction(
                async (tx) => {
                  await tx.recordTrade(fill(id));
                  await tx.updatePositionPrice({ position_key: key, current_price: price });
                },
                { isolation: 'repeatable read', retries: 20 },
              ),
          };
        },
        () => {
          const id = orderId();
          const key = pick(backtestKeys);
          const price = uniquePrice();
          return {
            path: 'roles scope.transaction',
            write: { environment: 'backtest', trades: [id], versions: [{ key, price: price.toFixed(4) }] },
            run: () =>
              backtestRoles.transaction(
                async (tx) => {
                  await tx.recordTrade(fill(id));
                  await tx.updatePositionPrice({ position_key: key, current_price: price });
                },
                { isolation: 'repeatable read', retries: 20 },
              ),
          };
        },
        () => {
          const { ids, params } = fills(25);
          return { path: 'plain recordTrades (bulk)', write: { environment: 'backtest', trades: ids, versions: [] }, run: () => backtest.recordTrades(params) };
        },
        () => {
          const { ids, params } = fills(25);
          return { path: 'roles recordTrades (bulk)', write: { environment: 'paper', trades: ids, versions: [] }, run: () => paperRoles.recordTrades(params) };
        },
        () => {
          const { ids, params } = fills(400);
          return {
            path: 'statement_timeout recordTrades (bulk)',
            write: { environment: 'backtest', trades: ids, versions: [] },
            run: () => backtestHasty.recordTrades(params),
          };
        },
        () => ({ path: 'plain listRecentTrades', run: () => paper.listRecentTrades({ limit: 20 }) }),
        () => ({ path: 'roles getPositionByKey', run: () => backtestRoles.getPositionByKey({ position_key: pick(backtestKeys) }) }),
        () => ({ path: 'retrying listOpenPositions', run: () => paperRetrying.listOpenPositions() }),
        () => ({ path: 'shared getCurrentMarketByTicker', run: () => plain.shared.getCurrentMarketByTicker({ ticker: 'FAULTS' }) }),
        () => ({
          path: 'crossEnvironment listTrainingDataTrades',
          run: () => plain.crossEnvironment.listTrainingDataTrades({ from: new Date(Date.now() - 2_000), to: new Date() }),
        }),
      ];

      const calls: Call[] = [];
      let stopped = false;
      const worker = async (index: number) => {
        for (let i = index; !stopped; i++) {
          const { path, write, run } = operations[i % operations.length]!();
          try {
            await run();
            calls.push({ path, write });
          } catch (error) {
            calls.push({ path, write, error });
            await sleep(20); // no hot loop while the server is away
          }
        }
      };

      // From the side: cancel running statements, terminate backends, SIGKILL and restart the server.
      const side = { cancelled: 0, terminated: 0, kills: 0 };
      const fromTheSide = async (fn: 'pg_cancel_backend' | 'pg_terminate_backend', count: number) => {
        const admin = new pg.Client(options);
        admin.on('error', () => undefined);
        try {
          await admin.connect();
          const { rows } = await admin.query<{ done: boolean }>(
            `SELECT ${fn}(pid) AS done FROM (
               SELECT pid FROM pg_stat_activity
                WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                  ${fn === 'pg_cancel_backend' ? "AND state = 'active'" : ''}
                ORDER BY random() LIMIT $2) chosen`,
            [DATABASE, count],
          );
          const done = rows.filter((row) => row.done).length;
          if (fn === 'pg_cancel_backend') side.cancelled += done;
          else side.terminated += done;
        } catch {
          // the server is away: nothing to cancel
        } finally {
          await admin.end().catch(() => undefined);
        }
      };
      const chaos = async () => {
        const start = Date.now();
        let round = 0;
        while (Date.now() - start < RUN_MS) {
          const kill = KILLS[side.kills];
          if (kill && Date.now() - start >= kill.at) {
            await throwaway.kill();
            side.kills++;
            await sleep(kill.down);
            await throwaway.restart();
            continue;
          }
          await fromTheSide('pg_cancel_backend', 2);
          if (++round % 5 === 0) await fromTheSide('pg_terminate_backend', 1);
          await sleep(100);
        }
      };

      const workers = Array.from({ length: WORKERS }, (_, index) => worker(index));
      await chaos();
      stopped = true;
      await Promise.all(workers);
      await sleep(200); // late 'error' events of discarded clients, if any, arrive now

      // Every rejected call carries a typed error; connection errors name the server, never the password.
      const failures = calls.filter((call) => call.error !== undefined);
      const untyped = failures.filter((call) => !TYPED.some((type) => call.error instanceof type));
      expect(
        untyped.map((call) => `${call.path}: ${(call.error as Error)?.constructor?.name} ${String((call.error as Error)?.message ?? call.error)}`),
      ).toEqual([]);
      for (const { path, error } of failures) {
        if (error instanceof DatabaseError) expect(error.query, path).toMatch(/^\w+$/);
        if (error instanceof ConnectionError) {
          expect({ host: error.host, port: error.port, database: error.database }, path).toEqual({
            host: server.host,
            port: server.port,
            database: DATABASE,
          });
          expect(error.message).toContain(`${server.host}:${server.port}/${DATABASE}`);
          expect(error.message).not.toContain(server.password);
        }
      }

      // Every acknowledged write is there; a failed one is absent unless its outcome is unknown.
      const owner = new pg.Client(options);
      await owner.connect();
      try {
        const { rows: trades } = await owner.query<{ order_id: string; environment: string }>(
          `SELECT order_id, execution_environment::text AS environment FROM trades WHERE order_id LIKE 'FT-%'`,
        );
        const recorded = new Set(trades.map((row) => row.order_id));
        const environmentOf = new Map(trades.map((row) => [row.order_id, row.environment]));
        const { rows: versions } = await owner.query<{ key: string; price: string }>(
          `SELECT position_key AS key, current_price::text AS price FROM positions WHERE market_id = 'MKT-FAULTS-TYPED'`,
        );
        const written = new Set(versions.map((row) => `${row.key} ${row.price}`));
        const pricesUnique = priceCounter <= 9_999;
        const present = (write: Write) => [
          ...write.trades.map((id) => recorded.has(id)),
          ...(pricesUnique ? write.versions.map((v) => written.has(`${v.key} ${v.price}`)) : []),
        ];
        const lostAcknowledged: string[] = [];
        const landedFailed: string[] = [];
        let outcomeUnknownLanded = 0;
        for (const call of calls) {
          if (!call.write) continue;
          const found = present(call.write);
          if (call.error === undefined) {
            if (found.some((is) => !is)) lostAcknowledged.push(`${call.path} ${JSON.stringify(call.write)}`);
          } else if (call.error instanceof OutcomeUnknownError) {
            if (found.every((is) => is)) outcomeUnknownLanded++;
          } else if (found.some((is) => is)) {
            landedFailed.push(`${call.path} (${(call.error as Error).name}) ${JSON.stringify(call.write)}`);
          }
        }
        // No row in another environment than the scope that wrote it.
        const misplaced = calls.flatMap((call) =>
          (call.write?.trades ?? []).filter((id) => environmentOf.has(id) && environmentOf.get(id) !== call.write!.environment),
        );
        expect(misplaced).toEqual([]);
        expect(lostAcknowledged).toEqual([]);
        expect(landedFailed).toEqual([]);
        // Whole: a transaction's trade and version land together or not at all; one current version per position.
        const { rows: current } = await owner.query<{ key: string; n: number }>(
          `SELECT position_key AS key, count(*)::int AS n FROM positions WHERE market_id = 'MKT-FAULTS-TYPED' AND row_current_ind GROUP BY 1`,
        );
        expect(current.filter((row) => row.n !== 1)).toEqual([]);
        expect(current).toHaveLength(paperKeys.length + backtestKeys.length);

        expect(uncaught).toEqual([]);
        expect(unhandled).toEqual([]);
        expect(side.kills).toBe(KILLS.length);
        expect(failures.length).toBeGreaterThan(0);

        // After the faults, every path works again (through the retry option: the pool may still hold a dead idle client).
        const [after] = await retrying.scope('paper', { api: 'demo' }).listOpenPositions();
        expect(after?.execution_environment).toBe('paper');

        const byClass = new Map<string, number>();
        for (const { error } of failures) {
          const name = (error as Error).constructor.name;
          byClass.set(name, (byClass.get(name) ?? 0) + 1);
        }
        const byPath = new Map<string, [number, number]>();
        for (const call of calls) {
          const counts = byPath.get(call.path) ?? [0, 0];
          counts[call.error === undefined ? 0 : 1]++;
          byPath.set(call.path, counts);
        }
        console.info(
          [
            `faults-typed: ${calls.length} calls by ${WORKERS} workers in ${RUN_MS / 1000} s; ` +
              `${calls.length - failures.length} acknowledged, ${failures.length} failed; uncaught ${uncaught.length}, unhandled rejections ${unhandled.length}`,
            `  side: ${side.kills} SIGKILLs and restarts, ${side.cancelled} statements cancelled, ${side.terminated} backends terminated`,
            `  failed by class: ${[...byClass].map(([name, n]) => `${name} ${n}`).join(', ')}`,
            `  OutcomeUnknownError writes that landed anyway: ${outcomeUnknownLanded} of ${byClass.get('OutcomeUnknownError') ?? 0}`,
            `  by path (ok/failed): ${[...byPath].map(([path, [ok, failed]]) => `${path} ${ok}/${failed}`).join('; ')}`,
          ].join('\n'),
        );
      } finally {
        await owner.end();
      }
    } finally {
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUnhandled);
      await pool.end();
      await impatientPool.end();
      await hastyPool.end();
    }
  });
});
