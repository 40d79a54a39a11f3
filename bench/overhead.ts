/**
 * 1. Query overhead: a scoped, generated function versus a raw `pool.query(text, values)` of
 * the same SQL text on the same connection (one pg.Pool with max 1).
 *
 * The raw side is what a careful hand-written call costs: SQL text and values prepared once,
 * pg's default parsers (NUMERIC stays a string). The scoped side is the whole typed path per
 * call: parameter interpolation (pgtyped's processSQLQueryIR), encoding (Decimal → text),
 * NUMERIC → Decimal and JSONB decoding of the rows, and the scope's environment check of
 * every row.
 */
import { processSQLQueryIR } from '@pgtyped/runtime';
import { Decimal } from 'decimal.js';
import { getTradeById, listRecentTrades, recordTrade } from '../generated/trades.js';
import { precogDb } from '../src/index.js';
import type { ServerTarget } from '../src/server/connection-string.js';
import { alternate, log, pool, summarise, type Flags } from './support.js';

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

export async function measureOverhead(server: ServerTarget, database: string, flags: Flags) {
  const connection = pool(server, database, 1);
  try {
    const seedRows = flags.quick ? 500 : 5_000;
    // Backtest and live trades, so that "recent trades of one environment" filters something.
    await connection.query(`
      INSERT INTO trades (market_id, side, price, quantity, fees, trade_source, order_type, execution_time,
                          market_price, trade_metadata, execution_environment)
      SELECT 'MKT-BENCH-' || (g % 50), CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END::trade_side,
             0.3 + (g % 40) / 100.0, 1 + g % 9, 0.01, 'manual', 'limit',
             now() - (g || ' seconds')::interval, 0.3 + (g % 40) / 100.0, '{"simulated": true}',
             CASE WHEN g % 5 = 0 THEN 'live' ELSE 'backtest' END::execution_environment
      FROM generate_series(1, $1::int) g`, [seedRows]);
    await connection.query('ANALYZE trades');

    const backtest = precogDb(connection).scope('backtest', { api: 'none' });
    const [newest] = await backtest.listRecentTrades({ limit: 1 });
    if (!newest) throw new Error('seed produced no backtest trade');
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
        scoped: () => backtest.getTradeById({ id }),
        raw: rawStatement(getTradeById, { id, execution_environment: 'backtest' }),
      },
      {
        name: 'recordTrade',
        what: 'record one trade',
        scoped: () => backtest.recordTrade(fill),
        raw: rawStatement(recordTrade, { ...fill, execution_environment: 'backtest' }),
      },
      {
        name: 'listRecentTrades',
        what: 'list 50 recent trades of one environment',
        scoped: () => backtest.listRecentTrades({ limit: 50 }),
        raw: rawStatement(listRecentTrades, { limit: 50, execution_environment: 'backtest' }),
      },
    ];
    const results = [];
    for (const item of cases) {
      log(`overhead: ${item.name} (${rounds} rounds of ${inner} calls each side, ABAB)`);
      const { text, values } = item.raw;
      const result = alternate(item.scoped, () => connection.query(text, values), { rounds, warmup, inner });
      results.push({ query: item.name, what: item.what, sideA: 'scoped generated', sideB: 'raw pg', ...summarise(await result) });
    }
    return { seedRows, callsPerSample: inner, goal: 'ratio <= 1.05', results };
  } finally {
    await connection.end();
  }
}
