/**
 * Backtest runs (issue 14, migration 000013): the bulk load of a run against the physical limit,
 * and deleting a run.
 *
 * 1. `backtest_load_vs_pk_only_copy`: N backtest trades (1,000,000) referencing P positions
 *    (10,000) of one run through `db.backtests.load(run, { positions, trades })` (COPY into fresh
 *    staging tables without indexes, then precog_backtest_load_finish: indexes, every rule
 *    set-wise, attach), versus COPY of the same in-memory rows, serialised the same way (each
 *    value through the codecs' encodeParam, COPY text, references resolved to ids taken from a
 *    sequence beforehand), into two fresh tables with the same columns and only a primary key. Both
 *    in one transaction on the same connection; the sides alternate (AB BA AB ...); each round
 *    loads a new run. Figure: rows/s of the load ÷ rows/s of the PK-only COPY, of the medians.
 *    The load's time is split with its onProgress reports (begin + COPY | finish | commit), and
 *    one more load, outside the ratio, is profiled: every statement of the validation with
 *    auto_explain (EXPLAIN ANALYZE of each, nested in precog_backtest_load_finish), and each
 *    index of the run's partitions rebuilt on its own (REINDEX, same maintenance_work_mem).
 * 2. `run_purge_ms`: `db.backtests.delete(run)` of each of those runs (1,000,000 trades each),
 *    after a CHECKPOINT, timed from the client; median. The rows of every other run, and the live
 *    and paper rows (count and md5 of every row), are compared before and after each delete.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Decimal } from 'decimal.js';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { rowOf, type LoadProgress, type RowReference, type RunRows } from '../src/backtest/load.js';
import { precogDb } from '../src/index.js';
import { encodeParam } from '../src/runtime/codecs.js';
import type { ServerTarget } from '../src/server/connection-string.js';
import { goal } from './report.js';
import { log, median, now, pool, type Flags } from './support.js';

/** The goals of issue 14. */
export const LOAD_THRESHOLD = 0.5;
export const PURGE_THRESHOLD_MS = 50;

type Row = Record<string, unknown>;

const cents = Array.from({ length: 100 }, (_, i) => new Decimal(i).div(100));
const START = Date.UTC(2024, 8, 1);

/** P positions of a run: one current version per key (keys issued by db.backtests.positionKeys). */
function positionRows(keys: string[], strategyId: number, modelId: number): Row[] {
  return keys.map((key, i) => ({
    position_key: key,
    market_id: `MKT-KXNFLGAME-${i % 300}`,
    strategy_id: strategyId,
    model_id: modelId,
    side: i % 2 ? 'NO' : 'YES',
    entry_price: cents[30 + (i % 40)]!,
    quantity: 10 + (i % 5),
    current_price: cents[35 + (i % 40)]!,
    fees: cents[1]!,
    status: i % 20 === 0 ? 'open' : 'closed',
    entry_time: new Date(START + i * 60_000),
    exit_time: i % 20 === 0 ? null : new Date(START + i * 60_000 + 86_400_000),
    exit_price: i % 20 === 0 ? null : cents[55]!,
    exit_reason: i % 20 === 0 ? null : 'take_profit',
    row_current_ind: true,
    row_start_ts: new Date(START + i * 60_000),
  }));
}

/** N trades, the i-th referencing the (i mod P)-th loaded position. */
function tradeRows(count: number, positions: number, strategyId: number, modelId: number): Row[] {
  const references: RowReference[] = Array.from({ length: positions }, (_, i) => rowOf('positions', i));
  const rows: Row[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const price = cents[20 + (i % 60)]!;
    const probability = cents[25 + (i % 60)]!;
    rows[i] = {
      market_id: `MKT-KXNFLGAME-${i % 300}`,
      position_id: references[i % positions]!,
      strategy_id: strategyId,
      model_id: modelId,
      order_id: `BT-${i}`,
      side: i % 2 ? 'sell' : 'buy',
      price,
      quantity: 1 + (i % 25),
      fees: cents[1]!,
      trade_source: 'automated',
      order_type: 'limit',
      execution_time: new Date(START + i * 1_000),
      calculated_probability: probability,
      market_price: price,
      edge_value: cents[5]!,
      trade_metadata: { step: i },
    };
  }
  return rows;
}

/** COPY text of one value, as src/backtest/load.ts writes it (encodeParam, then COPY escapes). */
function copyValue(type: string, value: unknown, field: string, ids: Map<string, string[]>): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'object' && 'table' in value && 'index' in value && Object.isFrozen(value)) {
    const reference = value as RowReference;
    return ids.get(reference.table)![reference.index]!;
  }
  const encoded = encodeParam(type, value, field);
  const text = encoded instanceof Date ? encoded.toISOString() : String(encoded);
  return /[\\\n\r\t]/.test(text) ? text.replace(/[\\\n\r\t]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!) : text;
}

function* copyLines(table: string, list: Row[], types: Map<string, string>, ids: Map<string, string[]>, own: string[] | undefined): Generator<string> {
  const columns = Object.keys(list[0]!);
  const columnTypes = columns.map((column) => types.get(column)!);
  for (let start = 0; start < list.length; start += 2_000) {
    let chunk = '';
    const end = Math.min(list.length, start + 2_000);
    for (let i = start; i < end; i++) {
      const row = list[i]!;
      let line = own ? `${own[i]}\t` : '';
      for (let c = 0; c < columns.length; c++) {
        if (c) line += '\t';
        line += copyValue(columnTypes[c]!, row[columns[c]!], `${table}[${i}].${columns[c]}`, ids);
      }
      chunk += `${line}\n`;
    }
    yield chunk;
  }
}

async function columnTypes(client: pg.Pool, table: string): Promise<Map<string, string>> {
  const { rows } = await client.query<{ name: string; type: string }>(
    `SELECT a.attname AS name, y.typname AS type FROM pg_attribute a JOIN pg_type y ON y.oid = a.atttypid
      WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
    [table],
  );
  return new Map(rows.map((row) => [row.name, row.type]));
}

/** Small live and paper data (positions and trades), to show that deleting a run leaves them alone. */
async function seedLiveAndPaper(client: pg.Pool, strategyId: number, modelId: number): Promise<void> {
  for (const [environment, first] of [['live', 0], ['paper', 1_000]] as const) {
    await client.query(`
      INSERT INTO positions (position_key, market_id, strategy_id, model_id, side, entry_price, quantity, fees, status,
                             row_current_ind, row_start_ts, execution_environment)
      SELECT 'POS-' || (${first} + k), 'MKT-BENCH-' || (k % 50), ${strategyId}, ${modelId}, 'YES', 0.40, 10, 0.02,
             'open', true, now() - k * interval '1 hour', '${environment}'
      FROM generate_series(1, 200) k`);
    await client.query(`
      WITH p AS (SELECT min(id) AS first, count(*) AS n FROM positions WHERE execution_environment = '${environment}')
      INSERT INTO trades (market_id, position_id, strategy_id, model_id, order_id, side, price, quantity, fees, trade_source,
                          order_type, execution_time, market_price, trade_metadata, execution_environment)
      SELECT 'MKT-BENCH-' || (g % 50), p.first + (g % p.n), ${strategyId}, ${modelId}, 'ORD-' || g, 'buy', 0.40, 1, 0.01,
             'automated', 'limit', now() - g * interval '1 minute', 0.40, '{}', '${environment}'
      FROM p, generate_series(1, 2000) g`);
  }
  await client.query(`SELECT setval('position_key_seq', greatest(100000000, (SELECT last_value FROM position_key_seq)))`);
}

/** Count and md5 of every live and paper row of trades and positions, and the rows of every run. */
async function fingerprint(client: pg.Pool) {
  const { rows } = await client.query<Record<string, string>>(`
    SELECT
      (SELECT count(*) || ' ' || md5(string_agg(t::text, '|' ORDER BY id)) FROM trades t WHERE execution_environment = 'live') AS live_trades,
      (SELECT count(*) || ' ' || md5(string_agg(p::text, '|' ORDER BY id)) FROM positions p WHERE execution_environment = 'live') AS live_positions,
      (SELECT count(*) || ' ' || md5(string_agg(t::text, '|' ORDER BY id)) FROM trades t WHERE execution_environment = 'paper') AS paper_trades,
      (SELECT count(*) || ' ' || md5(string_agg(p::text, '|' ORDER BY id)) FROM positions p WHERE execution_environment = 'paper') AS paper_positions`);
  const runs = await client.query<{ run: string; trades: string; positions: string }>(`
    SELECT r.id::text AS run,
           (SELECT count(*) FROM trades t WHERE t.execution_environment = 'backtest' AND t.backtest_run_id = r.id)::text AS trades,
           (SELECT count(*) FROM positions p WHERE p.execution_environment = 'backtest' AND p.backtest_run_id = r.id)::text AS positions
      FROM backtest_runs r ORDER BY r.id`);
  return { ...rows[0]!, runs: Object.fromEntries(runs.rows.map((row) => [row.run, `${row.trades} trades, ${row.positions} positions`])) };
}

interface ExplainedStatement {
  duration_ms: number;
  query: string;
  plan: string;
}

export async function measureRuns(server: ServerTarget, database: string, flags: Flags) {
  const tradeCount = flags.quick ? 20_000 : 1_000_000;
  const positionCount = flags.quick ? 200 : 10_000;
  // Rounds of the alternation (AB BA AB BA AB): the noise here moves one load by ×1.5, five medians hold.
  const rounds = flags.quick ? 1 : 5;
  // One connection for both sides (max 1): the load's transaction and the PK-only COPY alike.
  const connection = pool(server, database, 1);
  try {
    const strategyId = (await connection.query<{ id: number }>(
      `INSERT INTO strategies (strategy_name, strategy_version, status) VALUES ('bench', '1', 'active') RETURNING strategy_id AS id`,
    )).rows[0]!.id;
    const modelId = (await connection.query<{ id: number }>(
      `INSERT INTO probability_models (model_name, model_version, status) VALUES ('bench', '1', 'active') RETURNING model_id AS id`,
    )).rows[0]!.id;
    await seedLiveAndPaper(connection, strategyId, modelId);
    await connection.query('VACUUM (ANALYZE)');
    const db = precogDb(connection);
    const types = { trades: await columnTypes(connection, 'trades'), positions: await columnTypes(connection, 'positions') };
    const builtStarted = now();
    const trades = tradeRows(tradeCount, positionCount, strategyId, modelId);
    log(`runs: ${tradeCount.toLocaleString('en-US')} trades built in memory in ${((now() - builtStarted) / 1000).toFixed(1)} s`);
    const totalRows = tradeCount + positionCount;

    const newRun = async (label: string) => {
      const run = await db.backtests.create({
        strategy_id: strategyId, model_id: modelId, period_start: new Date(START), period_end: new Date(START + 90 * 86_400_000),
        parameters: { bench: 'runs' }, label,
      });
      const positions = positionRows(await db.backtests.positionKeys(positionCount), strategyId, modelId);
      return { run, positions };
    };

    // Side A: db.backtests.load. Phases from its onProgress reports.
    const load = async (label: string, onPhase?: (phase: LoadProgress['phase']) => void) => {
      const { run, positions } = await newRun(label);
      const marks: Partial<Record<LoadProgress['phase'], number>> = {};
      const started = now();
      // The bench builds its million rows as plain records (one builder for both sides); the loader checks each value.
      const result = await db.backtests.load(run, { positions, trades } as unknown as RunRows, {
        onProgress: (progress) => {
          marks[progress.phase] ??= now();
          onPhase?.(progress.phase);
        },
      });
      const ended = now();
      const loaded = result.tables.reduce((sum, t) => sum + t.rows, 0);
      if (Math.abs(loaded - totalRows) > totalRows * 0.01) throw new Error(`load reported ${loaded} of ${totalRows} rows`);
      return {
        run: run.id,
        ms: ended - started,
        phases_ms: {
          beginAndCopy: Math.round(marks.validate! - started),
          finish: Math.round(marks.done! - marks.validate!),
          commit: Math.round(ended - marks.done!),
        },
      };
    };
    // Side B: the same rows, the same serialisation, COPY into tables with only a primary key.
    let pkTables = 0;
    const pkOnlyCopy = async () => {
      const suffix = `${process.pid}_${++pkTables}`;
      const [positionsTable, tradesTable] = [`pk_only_positions_${suffix}`, `pk_only_trades_${suffix}`];
      const { positions } = { positions: positionRows(Array.from({ length: positionCount }, (_, i) => `POS-${i + 1}`), strategyId, modelId) };
      const client = await connection.connect();
      const started = now();
      try {
        await client.query('BEGIN');
        for (const [table, like] of [[positionsTable, 'positions'], [tradesTable, 'trades']] as const) {
          await client.query(`CREATE TABLE ${table} (LIKE ${like} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)`);
          await client.query(`ALTER TABLE ${table} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY, ADD PRIMARY KEY (id),
                                ALTER COLUMN execution_environment SET DEFAULT 'backtest', ALTER COLUMN backtest_run_id SET DEFAULT 1`);
        }
        const positionIds = (await client.query<{ id: string }>(
          `SELECT pg_catalog.nextval(pg_get_serial_sequence($1, 'id'))::text AS id FROM generate_series(1, $2::integer)`,
          [positionsTable, positionCount],
        )).rows.map((row) => row.id);
        const ids = new Map([['positions', positionIds]]);
        const copy = async (table: string, list: Row[], columnTypesOf: Map<string, string>, own: string[] | undefined) => {
          const columns = [...(own ? ['id'] : []), ...Object.keys(list[0]!)];
          const stream = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
          await pipeline(Readable.from(copyLines(table, list, columnTypesOf, ids, own)), stream);
          if (stream.rowCount !== list.length) throw new Error(`COPY ${table} wrote ${stream.rowCount} of ${list.length} rows`);
        };
        await copy(positionsTable, positions, types.positions, positionIds);
        await copy(tradesTable, trades, types.trades, undefined);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
      const ms = now() - started;
      await connection.query(`DROP TABLE ${positionsTable}, ${tradesTable}`);
      return ms;
    };

    const loads: Awaited<ReturnType<typeof load>>[] = [];
    const pkMs: number[] = [];
    for (let round = 0; round < rounds; round++) {
      await connection.query('CHECKPOINT'); // each round starts from the same state: no dirty pages of the last
      if (round % 2 === 0) {
        loads.push(await load(`bench load ${round + 1}`));
        await connection.query('CHECKPOINT');
        pkMs.push(await pkOnlyCopy());
      } else {
        pkMs.push(await pkOnlyCopy());
        await connection.query('CHECKPOINT');
        loads.push(await load(`bench load ${round + 1}`));
      }
      const last = loads.at(-1)!;
      log(
        `runs: round ${round + 1}/${rounds}: db.backtests.load ${(last.ms / 1000).toFixed(2)} s (begin+COPY ${(last.phases_ms.beginAndCopy / 1000).toFixed(2)}, ` +
          `finish ${(last.phases_ms.finish / 1000).toFixed(2)}, commit ${(last.phases_ms.commit / 1000).toFixed(2)}), PK-only COPY ${(pkMs.at(-1)! / 1000).toFixed(2)} s`,
      );
    }
    const loadMs = loads.map((l) => l.ms);
    const loadRate = totalRows / (median(loadMs) / 1000);
    const pkRate = totalRows / (median(pkMs) / 1000);
    const ratio = Math.round((loadRate / pkRate) * 1000) / 1000;
    const pairedRatio = Math.round(median(pkMs.map((p, i) => p / loadMs[i]!)) * 1000) / 1000;

    // The profile, outside the ratio: one more load with every statement inside
    // precog_backtest_load_finish explained (auto_explain, analyze), then each index rebuilt alone.
    await connection.query('CHECKPOINT');
    const profile = await profileLoad(connection, load);
    log(`runs: profiled load: finish ${profile.finish_ms} ms = indexes ~${profile.indexBuild_ms} ms + validation ${profile.validation_ms} ms + rest ${profile.rest_ms} ms`);

    // Deleting each run of the rounds (the profiled one stays: every delete has another run beside it).
    const purges = [];
    for (const { run } of loads) {
      const before = await fingerprint(connection);
      await connection.query('CHECKPOINT'); // the load's dirty pages are not the delete's cost
      const started = now();
      await db.backtests.delete(run);
      const ms = now() - started;
      await db.backtests.sweep(); // the rows, hidden at once, are deleted after (the owner sees them until then)
      const after = await fingerprint(connection);
      const left = (await connection.query<{ n: string }>(
        `SELECT (SELECT count(*) FROM trades WHERE backtest_run_id = $1) + (SELECT count(*) FROM positions WHERE backtest_run_id = $1) AS n`,
        [run.toString()],
      )).rows[0]!.n;
      const { runs: runsBefore, ...keptBefore } = before;
      const { runs: runsAfter, ...keptAfter } = after;
      const deleted = runsBefore[run.toString()];
      delete runsBefore[run.toString()];
      const unchanged = JSON.stringify(keptBefore) === JSON.stringify(keptAfter) && JSON.stringify(runsBefore) === JSON.stringify(runsAfter);
      purges.push({ run: Number(run), deleted, ms: Math.round(ms * 10) / 10, rowsLeft: Number(left), othersUnchanged: unchanged, before, after });
      log(`runs: db.backtests.delete(${run}) of ${deleted} in ${ms.toFixed(1)} ms; every other run, live and paper unchanged: ${unchanged}`);
    }
    // Where a delete's time goes, on the profiled run (the last one left): the DELETE statement (the
    // run's row and its note) and its COMMIT timed apart; its rows are swept afterwards.
    const size = '0';
    await connection.query('CHECKPOINT');
    const purgeClient = await connection.connect();
    let purgeBreakdown;
    try {
      const begun = now();
      await purgeClient.query('BEGIN');
      await purgeClient.query('DELETE FROM backtest_runs WHERE id = $1', [profile.run]);
      const statement = now();
      await purgeClient.query('COMMIT');
      const committed = now();
      purgeBreakdown = {
        run: profile.run,
        partitionsBytes: Number(size),
        deleteStatement_ms: Math.round((statement - begun) * 10) / 10,
        commit_ms: Math.round((committed - statement) * 10) / 10,
        note: 'Since migration 000018 a delete is the run\'s row and a note: its rows are hidden at once and deleted by the sweep afterwards.',
      };
    } finally {
      purgeClient.release();
    }
    log(`runs: a delete apart: DELETE ${purgeBreakdown.deleteStatement_ms} ms, COMMIT ${purgeBreakdown.commit_ms} ms (${Math.round(Number(size) / 2 ** 20)} MB of files)`);
    const purgeMs = median(purges.map((p) => p.ms));
    const allUnchanged = purges.every((p) => p.othersUnchanged && p.rowsLeft === 0);
    const purgeGoal = goal({ value: Math.round(purgeMs * 10) / 10, unit: 'ms' }, PURGE_THRESHOLD_MS, 'most', {
      samples_ms: purges.map((p) => p.ms),
      rowsPerRun: totalRows,
      othersUnchanged: allUnchanged,
    });
    purgeGoal.met &&= allUnchanged;

    return {
      goals: {
        backtest_load_vs_pk_only_copy: goal({ ratio }, LOAD_THRESHOLD, 'least', {
          pairedRatio,
          loadRowsPerSecond: Math.round(loadRate),
          pkOnlyCopyRowsPerSecond: Math.round(pkRate),
          trades: tradeCount,
          positions: positionCount,
          rounds,
        }),
        run_purge_ms: purgeGoal,
      },
      load: {
        trades: tradeCount,
        positions: positionCount,
        rounds,
        load_ms: loadMs.map(Math.round),
        loadPhases_ms: loads.map((l) => l.phases_ms),
        pkOnlyCopy_ms: pkMs.map(Math.round),
        loadRowsPerSecond: Math.round(loadRate),
        pkOnlyCopyRowsPerSecond: Math.round(pkRate),
        ratio,
        pairedRatio,
        profile,
      },
      purge: { median_ms: purgeMs, deletes: purges, breakdown: purgeBreakdown },
    };
  } finally {
    await connection.end();
  }
}

/**
 * One more load with auto_explain on (every statement nested in precog_backtest_load_finish, with
 * its EXPLAIN ANALYZE plan, sent to this client as LOG messages), then each index of the run's
 * partitions rebuilt on its own with the same maintenance_work_mem as the load's (256MB).
 */
async function profileLoad(
  connection: pg.Pool,
  load: (
    label: string,
    onPhase: (phase: LoadProgress['phase']) => void,
  ) => Promise<{ run: bigint; ms: number; phases_ms: { beginAndCopy: number; finish: number; commit: number } }>,
) {
  const client = await connection.connect();
  const explained: ExplainedStatement[] = [];
  // Only the statements of precog_backtest_load_finish: between the load's validate and done reports.
  let capturing = false;
  const onNotice = (notice: { message?: string }) => {
    if (!capturing) return;
    const match = /^duration: ([0-9.]+) ms\s+plan:\s*\n?Query Text: ([\s\S]*?)\n([\s\S]*)$/.exec(notice.message ?? '');
    if (match) explained.push({ duration_ms: Number(match[1]), query: match[2]!.slice(0, 2_000), plan: match[3]!.slice(0, 4_000) });
  };
  client.on('notice', onNotice);
  await client.query(`LOAD 'auto_explain'`);
  await client.query(`SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on; SET auto_explain.log_nested_statements = on;
                      SET auto_explain.log_timing = on; SET auto_explain.log_buffers = on; SET client_min_messages = log`);
  client.release(); // the pool's one connection: the load below runs on it
  let loaded;
  try {
    loaded = await load('bench load profiled', (phase) => {
      capturing = phase === 'validate';
    });
  } finally {
    const again = await connection.connect();
    await again.query('RESET auto_explain.log_min_duration; RESET client_min_messages');
    again.off('notice', onNotice);
    again.release();
  }
  // Validation: the statements nested in the finish that read the staging tables or write the keys
  // (auto_explain explains no DDL); the others are catalog lookups of the function.
  const nested = explained.filter((s) => !/precog_backtest_load_finish/.test(s.query));
  const validation = nested.filter((s) => /_load\b|precog_environment_keys/.test(s.query));
  const validationMs = validation.reduce((sum, s) => sum + s.duration_ms, 0);
  const catalogMs = nested.filter((s) => !validation.includes(s)).reduce((sum, s) => sum + s.duration_ms, 0);
  // Index builds: none since migration 000018 (the finish inserts into the backtest partition,
  // maintaining its indexes row by row inside the insert statement, counted with the statements).
  const builds: { index: string; table: string; size: string; ms: number }[] = [];
  const indexBuild = 0;
  const memory: { maintenance_work_mem: string; ms: number }[] = [];
  const finish = loaded.phases_ms.finish;
  return {
    run: Number(loaded.run),
    load_ms: Math.round(loaded.ms),
    phases_ms: loaded.phases_ms,
    finish_ms: finish,
    indexBuild_ms: indexBuild,
    validation_ms: Math.round(validationMs),
    otherNestedStatements_ms: Math.round(catalogMs),
    rest_ms: Math.round(finish - indexBuild - validationMs - catalogMs),
    indexBuilds: builds,
    biggestIndexByMaintenanceWorkMem: memory,
    validationStatements: validation.sort((a, b) => b.duration_ms - a.duration_ms),
    note: 'With auto_explain (analyze, timing) on, the finish runs slower than in the rounds. Since migration 000018 the finish builds no index: its INSERT ... SELECT from each staging table maintains the backtest partition\'s indexes, and is counted with the validation statements.',
  };
}
