/** Concurrent writers of one position through scopes: every update lands, on top of the last. */
import { describe, expect, it } from 'vitest';
import { Decimal, EnvironmentRuleError, precogDb } from 'precog-db';
import { withFreshDatabase, withRollback } from '../support/db.js';

describe('SCD writes under contention', () => {
  it('applies 16 concurrent price updates of one paper position, none lost, one current version', async () => {
    await withFreshDatabase(async (_database, pool) => {
      const paper = precogDb(pool).scope('paper', { api: 'demo' });
      const opened = await paper.openPosition({
        market_id: 'MKT-CONTENDED',
        side: 'YES',
        entry_price: new Decimal('0.40'),
        quantity: 5,
        fees: new Decimal('0'),
      });
      const prices = Array.from({ length: 16 }, (_, i) => new Decimal('0.50').plus(new Decimal(i).div(100)));
      const results = await Promise.all(
        prices.map((current_price) => paper.updatePositionPrice({ position_key: opened!.position_key, current_price })),
      );
      expect(results.every((row) => row !== undefined)).toBe(true);

      const history = await paper.listPositionHistory({ position_key: opened!.position_key });
      expect(history).toHaveLength(17);
      expect(history.filter((row) => row.row_current_ind)).toHaveLength(1);
      const written = history.map((row) => row.current_price!.toFixed(2)).sort();
      expect(written).toEqual(['0.40', ...prices.map((price) => price.toFixed(2))].sort());
      expect(new Set(history.map((row) => row.execution_environment))).toEqual(new Set(['paper']));
    });
  });
});

describe('database rules surface as typed errors', () => {
  it('names the rule when a paper trade references a live position', async () => {
    await withRollback(async (client) => {
      const db = precogDb(client);
      const livePosition = await db.scope('live', { api: 'live' }).openPosition({
        market_id: 'MKT-RULE',
        side: 'NO',
        entry_price: new Decimal('0.3'),
        quantity: 1,
        fees: new Decimal('0'),
      });
      const paper = db.scope('paper', { api: 'demo' });
      const error = await paper
        .transaction((tx) =>
          tx.recordTrade({
            market_id: 'MKT-RULE',
            position_id: livePosition!.id as never, // only by bypassing the types
            side: 'buy',
            price: new Decimal('0.3'),
            quantity: 1,
            fees: new Decimal('0'),
            trade_source: 'manual',
            order_type: 'limit',
          }),
        )
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EnvironmentRuleError);
      expect((error as EnvironmentRuleError).rule).toBe('environment-cross-reference');
      expect((error as EnvironmentRuleError).table).toBe('trades');
    });
  });
});
