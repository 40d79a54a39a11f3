/**
 * 1. Query overhead: a scoped, generated function (a paper scope) versus a raw
 * `pool.query(text, values)` of the same SQL text on the same connection (one pg.Pool with max 1).
 *
 * The raw side is what a careful hand-written call costs: SQL text and values prepared once,
 * pg's default parsers (NUMERIC stays a string). The scoped side is the whole typed path per
 * call: parameter interpolation (pgtyped's processSQLQueryIR), encoding (Decimal → text),
 * NUMERIC → Decimal and JSONB decoding of the rows, and the scope's environment check of
 * every row.
 */
import { processSQLQueryIR } from '@pgtyped/runtime';
import { Decimal } from 'decimal.js';
import pg from 'pg';
import { getTradeById, listRecentTrades, recordTrade } from '../generated/trades.js';
import { precogDb } from '../src/index.js';
import type { ServerTarget } from '../src/server/connection-string.js';
import { encodeParam, pgTypes } from '../src/runtime/codecs.js';
import { log, median, now, pool, rotate, summarise, type Flags } from './support.js';
import { goal, type Goal } from './report.js';

type IR = Parameters<typeof processSQLQueryIR>[0];

/** The statement text and values a raw pg call would send for `query` with `params`. */
function rawStatement(query: { ir: unknown }, params: Record<string, unknown>) {
  const { query: text, bindings } = processSQLQueryIR(query.ir as IR, params as never);
  const values = (bindings as unknown[]).map((value) => {
    if (Decimal.isDecimal(value)) return (value as Decimal).toFixed();
    if (value !== null && typeof value === 'object' && !(value instanceof Date)) return JSON.stringify(value);
    return value;
  });
  return { text, values };
}

/** The goal of issue 14: a scoped call costs at most this many times raw pg's (NUMERIC as strings). */
export const OVERHEAD_THRESHOLD = 1.05;


/** CPU micro-measurements: calls per sample (the first sample warms up and is dropped). */
let cpuCalls = 2_000;
const CPU_SAMPLES = 6;

/** Median microseconds per call of a synchronous body. */
function cpuMicroseconds(body: () => void): number {
  const samples: number[] = [];
  for (let sample = 0; sample < CPU_SAMPLES; sample++) {
    const started = now();
    for (let i = 0; i < cpuCalls; i++) body();
    if (sample > 0) samples.push(((now() - started) / cpuCalls) * 1000);
  }
  return median(samples);
}

async function asyncCpuMicroseconds(body: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let sample = 0; sample < CPU_SAMPLES; sample++) {
    const started = now();
    for (let i = 0; i < cpuCalls; i++) await body();
    if (sample > 0) samples.push(((now() - started) / cpuCalls) * 1000);
  }
  return median(samples);
}

export async function measureOverhead(server: ServerTarget, database: string, flags: Flags) {
  const connection = pool(server, database, 1);
  cpuCalls = flags.quick ? 100 : 2_000;
  try {
    const seedRows = flags.quick ? 500 : 5_000;
    // Paper and live trades, so that "recent trades of one environment" filters something. Paper, not
    // backtest: this measures a plain scoped call, and backtest writes are to belong to a run.
    await connection.query(`
      INSERT INTO trades (market_id, side, price, quantity, fees, trade_source, order_type, execution_time,
                          market_price, trade_metadata, execution_environment)
      SELECT 'MKT-BENCH-' || (g % 50), CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END::trade_side,
             0.3 + (g % 40) / 100.0, 1 + g % 9, 0.01, 'manual', 'limit',
             now() - (g || ' seconds')::interval, 0.3 + (g % 40) / 100.0, '{"simulated": true}',
             CASE WHEN g % 5 = 0 THEN 'live' ELSE 'paper' END::execution_environment
      FROM generate_series(1, $1::int) g`, [seedRows]);
    await connection.query('ANALYZE trades');

    // A paper scope trades through Kalshi's demo API (src/scope/api-mode.ts): 'none' is backtest's.
    const paper = precogDb(connection).scope('paper', { api: 'demo' });
    const [newest] = await paper.listRecentTrades({ limit: 1 });
    if (!newest) throw new Error('seed produced no paper trade');
    const id = newest.id;

    const fill = {
      market_id: 'MKT-BENCH-1',
      side: 'buy' as const,
      price: new Decimal('0.4200'),
      quantity: 5,
      fees: new Decimal('0.0100'),
      trade_source: 'manual' as const,
      order_type: 'limit' as const,
      market_price: new Decimal('0.4100'),
      trade_metadata: { simulated: true },
    };

    const rounds = flags.quick ? 5 : 25;
    const warmup = flags.quick ? 1 : 3;
    const inner = flags.quick ? 20 : 100;
    const cases = [
      {
        name: 'getTradeById',
        what: 'fetch a trade by id',
        scoped: () => paper.getTradeById({ id }),
        fake: (scope: typeof paper) => scope.getTradeById({ id }),
        query: getTradeById,
        params: { id, execution_environment: 'paper' } as Record<string, unknown>,
        raw: rawStatement(getTradeById, { id, execution_environment: 'paper' }),
      },
      {
        name: 'recordTrade',
        what: 'record one trade',
        scoped: () => paper.recordTrade(fill),
        fake: (scope: typeof paper) => scope.recordTrade(fill),
        query: recordTrade,
        params: { ...fill, execution_environment: 'paper' } as Record<string, unknown>,
        raw: rawStatement(recordTrade, { ...fill, execution_environment: 'paper' }),
      },
      {
        name: 'listRecentTrades',
        what: 'list 50 recent trades of one environment',
        scoped: () => paper.listRecentTrades({ limit: 50 }),
        fake: (scope: typeof paper) => scope.listRecentTrades({ limit: 50 }),
        query: listRecentTrades,
        params: { limit: 50, execution_environment: 'paper' } as Record<string, unknown>,
        raw: rawStatement(listRecentTrades, { limit: 50, execution_environment: 'paper' }),
      },
    ];
    const results = [];
    const goals: Record<string, Goal> = {};
    for (const item of cases) {
      log(`overhead: ${item.name} (${rounds} rounds of ${inner} calls per side, rotating scoped / raw / raw+codecs)`);
      const { text, values } = item.raw;
      // Side C, for the breakdown only: raw pg with precog-db's result parsers (NUMERIC → Decimal,
      // JSONB), so scoped/C is the cost of interpolation, encoding and the scope's checks, and
      // C/raw the cost of decoding into the TypeScript types.
      const [scoped, raw, rawWithCodecs] = await rotate(
        [item.scoped, () => connection.query(text, values), () => connection.query({ text, values, types: pgTypes })],
        { rounds, warmup, inner },
      );
      // CPU only, no database: what interpolating and encoding the parameters costs per call.
      const prepare = cpuMicroseconds(() => {
        const { bindings } = processSQLQueryIR(item.query.ir as IR, { ...item.params } as never);
        (bindings as unknown[]).map((value, index) => encodeParam(item.query.params[index]?.type ?? 'unknown', value, 'bench'));
      });
      // CPU only, no database: the whole scoped call against a connection that answers at once
      // with already-decoded rows, plus decoding the row text with precog-db's parsers instead of
      // pg's defaults. Their sum is what the typed layer adds to a call, free of network noise.
      const textRows = await connection.query({ text, values, types: { getTypeParser: () => (value: string) => value } });
      const decoded = (await connection.query({ text, values, types: pgTypes })).rows;
      const answering = { query: async () => ({ rows: decoded.map((row) => ({ ...row })) }) };
      const fake = precogDb(answering).scope('paper', { api: 'demo' });
      const scopedCpu = await asyncCpuMicroseconds(() => item.fake(fake));
      const decodeWith = (types: typeof pgTypes) => {
        const parsers = textRows.fields.map((field) => types.getTypeParser(field.dataTypeID, 'text') as (text: string) => unknown);
        for (const row of textRows.rows as Record<string, string | null>[]) {
          textRows.fields.forEach((field, index) => {
            const value = row[field.name];
            if (value !== null && value !== undefined) parsers[index]!(value);
          });
        }
      };
      const decodeExtra = cpuMicroseconds(() => decodeWith(pgTypes)) - cpuMicroseconds(() => decodeWith(pg.types as typeof pgTypes));
      const libraryCpu = scopedCpu + Math.max(0, decodeExtra);
      const result = {
        a: scoped!,
        b: raw!,
        medianA: median(scoped!),
        medianB: median(raw!),
        ratio: median(scoped!) / median(raw!),
        pairedRatio: median(scoped!.map((x, i) => x / raw![i]!)),
      };
      results.push({
        query: item.name,
        what: item.what,
        sideA: 'scoped generated',
        sideB: 'raw pg',
        ...summarise(result),
        rawWithCodecs_ms: Math.round(median(rawWithCodecs!) * 10_000) / 10_000,
        ratioSameDecoding: Math.round((median(scoped!) / median(rawWithCodecs!)) * 1000) / 1000,
        decodeShare: Math.round(((median(rawWithCodecs!) - median(raw!)) / median(raw!)) * 1000) / 1000,
        scopeShare: Math.round(((median(scoped!) - median(rawWithCodecs!)) / median(raw!)) * 1000) / 1000,
        interpolateAndEncode_us: Math.round(prepare * 10) / 10,
        scopedCallWithoutDatabase_us: Math.round(scopedCpu * 10) / 10,
        extraDecode_us: Math.round(decodeExtra * 10) / 10,
        libraryCpu_us: Math.round(libraryCpu * 10) / 10,
        cpuAccountedRatio: Math.round((1 + libraryCpu / 1000 / median(raw!)) * 1000) / 1000,
      });
      const figures = results[results.length - 1]!;
      // ratio: the wall-clock median against raw pg (NUMERIC as strings); cpuRatio: the CPU-only accounting.
      goals[`overhead_vs_raw_strings.${item.name}`] = goal({ ratio: figures.ratio }, OVERHEAD_THRESHOLD, 'most', {
        pairedRatio: figures.pairedRatio,
        cpuRatio: figures.cpuAccountedRatio,
        cpuMet: figures.cpuAccountedRatio <= OVERHEAD_THRESHOLD,
      });
    }
    return { seedRows, callsPerSample: inner, goal: `ratio <= ${OVERHEAD_THRESHOLD}`, goals, results };
  } finally {
    await connection.end();
  }
}
