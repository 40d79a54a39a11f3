/** A scoped multi-row insert via pgtyped's array of picks: the scope binds the environment in every row. */
import { describe, expect, it } from 'vitest';
import { Decimal, precogDb } from 'precog-db';
import { withRollback } from '../support/db.js';
import { unique } from '../queries/fixtures.js';

const fill = (market: string, quantity: number) => ({
  market_id: market, side: 'buy', price: new Decimal('0.50'), quantity, fees: new Decimal('0.01'), trade_source: 'manual', order_type: 'limit',
} as const);

describe('recordFills (array of picks) on a scope', () => {
  it('writes every row in the scope\'s environment, once per statement', async () => {
    await withRollback(async (client) => {
      const paper = precogDb(client).scope('paper', { api: 'demo' });
      const market = unique('MKT-PICKS');
      const rows = await paper.recordFills({ fills: [fill(market, 1), fill(market, 2), fill(market, 3)] });
      expect(rows.map((row) => [row.quantity, row.execution_environment])).toEqual([[1, 'paper'], [2, 'paper'], [3, 'paper']]);
      expect(rows[0]!.price).toBeInstanceOf(Decimal);
      const { rows: stored } = await client.query('SELECT count(*)::int AS n FROM trades WHERE market_id = $1 AND execution_environment = $2', [market, 'paper']);
      expect(stored[0].n).toBe(3);
    });
  });

  it('refuses a row that names its own environment, and an empty list, before sending anything', async () => {
    const sent: unknown[] = [];
    const paper = precogDb({ query: async (config) => { sent.push(config); return { rows: [] }; } }).scope('paper', { api: 'demo' });
    await expect(paper.recordFills({ fills: [{ ...fill('MKT-X', 1), execution_environment: 'live' } as never] })).rejects.toThrow(
      'recordFills: the scope binds execution_environment (paper) in every row of fills; do not pass it.',
    );
    await expect(paper.recordFills({ fills: [] })).rejects.toThrow('recordFills: fills must not be empty');
    expect(sent).toEqual([]);
  });
});
