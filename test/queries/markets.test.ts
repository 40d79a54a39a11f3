/** sql/markets.sql against the real server: a new version only when the price or status changed. */
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { createMarket, getCurrentMarketByTicker, listMarketPriceHistory, recordMarketPrice } from '../../generated/markets.js';
import { withRollback } from '../support/db.js';
import { unique } from './fixtures.js';

const d = (value: string) => new Decimal(value);

describe('markets', () => {
  it('createMarket and getCurrentMarketByTicker round-trip every value', async () => {
    await withRollback(async (db) => {
      const ticker = unique('KXNFLGAME');
      const created = await createMarket.run(
        {
          ticker, platform_id: 'kalshi', title: 'Chiefs win?', market_type: 'binary', yes_price: d('0.6150'),
          no_price: d('0.3900'), spread: d('0.0050'), volume: 1200, open_interest: 300, metadata: { event_ticker: 'KXNFL-1' },
        },
        db,
      );
      expect(created).toMatchObject({
        market_id: `MKT-${ticker}`, platform_id: 'kalshi', ticker, title: 'Chiefs win?', market_type: 'binary',
        volume: 1200, open_interest: 300, status: 'open', settlement_value: null, metadata: { event_ticker: 'KXNFL-1' },
        row_current_ind: true, row_end_ts: null,
      });
      expect(created!.yes_price.equals(d('0.615'))).toBe(true);
      expect(created!.no_price.toFixed(4)).toBe('0.3900');
      expect(created!.spread!.toFixed()).toBe('0.005');
      const current = await getCurrentMarketByTicker.run({ ticker }, db);
      expect(current!.id).toBe(created!.id);
      expect(current!.yes_price.equals(created!.yes_price)).toBe(true);

      const defaults = await createMarket.run(
        { ticker: unique('KXDEF'), platform_id: 'kalshi', title: 't', market_type: 'scalar', yes_price: d('0'), no_price: d('1') },
        db,
      );
      expect(defaults).toMatchObject({ volume: 0, open_interest: 0, status: 'open', metadata: {}, spread: null });
    });
  });

  it('recordMarketPrice writes a version only on a price or status change, copying the rest forward', async () => {
    await withRollback(async (db) => {
      const ticker = unique('KXPRICE');
      const created = await createMarket.run(
        { ticker, platform_id: 'kalshi', title: 'Price test', market_type: 'binary', yes_price: d('0.50'), no_price: d('0.50'), spread: d('0.02'), metadata: { a: 1 } },
        db,
      );
      const observe = (yes: string, no: string, extra: Partial<Parameters<typeof recordMarketPrice.run>[0]> = {}) =>
        recordMarketPrice.run({ ticker, yes_price: d(yes), no_price: d(no), status: 'open', ...extra }, db);

      // Unchanged price (also written differently: 0.5 = 0.5000): no version, no row.
      expect(await observe('0.5', '0.5000')).toBeUndefined();
      // Volume alone is not a change either.
      expect(await observe('0.50', '0.50', { volume: 999 })).toBeUndefined();

      const v2 = await observe('0.53', '0.48', { volume: 50 });
      expect(v2!.yes_price.toFixed(2)).toBe('0.53');
      expect(v2!.no_price.toFixed(2)).toBe('0.48');
      expect(v2).toMatchObject({ volume: 50, title: 'Price test', metadata: { a: 1 }, row_current_ind: true, market_id: `MKT-${ticker}` });
      expect(v2!.spread!.toFixed(2)).toBe('0.02');
      expect(v2!.created_at.getTime()).toBe(created!.created_at.getTime());
      expect(v2!.updated_at.getTime()).toBe(v2!.row_start_ts.getTime());

      expect(await observe('0.53', '0.48')).toBeUndefined();
      const v3 = await observe('0.53', '0.48', { status: 'halted' });
      expect(v3!.status).toBe('halted');
      expect(v3!.volume).toBe(50);
      const v4 = await recordMarketPrice.run(
        { ticker, yes_price: d('1'), no_price: d('0'), status: 'settled', settlement_value: d('1') },
        db,
      );
      expect(v4!.settlement_value!.equals(d('1'))).toBe(true);

      const history = await listMarketPriceHistory.run({ market_id: `MKT-${ticker}` }, db);
      expect(history).toHaveLength(4);
      expect(history.map((v) => [v.yes_price.toFixed(2), v.status, v.row_current_ind])).toEqual([
        ['0.50', 'open', false],
        ['0.53', 'open', false],
        ['0.53', 'halted', false],
        ['1.00', 'settled', true],
      ]);
      for (let i = 0; i < history.length - 1; i++) {
        expect(history[i]!.row_end_ts!.getTime()).toBe(history[i + 1]!.row_start_ts.getTime());
      }
      const current = await getCurrentMarketByTicker.run({ ticker }, db);
      expect(current!.id).toBe(v4!.id);
    });
  });

  it('recordMarketPrice of an unknown ticker writes nothing', async () => {
    await withRollback(async (db) => {
      expect(await recordMarketPrice.run({ ticker: unique('NOPE'), yes_price: d('0.1'), no_price: d('0.9'), status: 'open' }, db)).toBeUndefined();
      expect(await getCurrentMarketByTicker.run({ ticker: unique('NOPE') }, db)).toBeUndefined();
    });
  });
});
