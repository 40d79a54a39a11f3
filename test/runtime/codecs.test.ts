/**
 * The values generated queries return at run time are what the generated types say
 * (src/runtime/codecs.ts declares both), and money refuses JavaScript numbers.
 */
import { Decimal } from 'decimal.js';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { ComparePaperAndLivePerformanceResult } from '../../generated/analytics.js';
import { comparePaperAndLivePerformance } from '../../generated/analytics.js';
import { upsertGameState, type UpsertGameStateResult } from '../../generated/game-states.js';
import { loadHistoricalGames, type LoadHistoricalGamesResult } from '../../generated/historical.js';
import { recordTrade, recordTrades, type RecordTradeParams, type RecordTradeResult } from '../../generated/trades.js';
import { pgTypes, type Json } from '../../src/runtime/codecs.js';
import { InvalidValueError } from '../../src/runtime/errors.js';
import { withRollback } from '../support/db.js';
import { unique } from '../queries/fixtures.js';

const fill = (market: string): RecordTradeParams => ({
  market_id: market, side: 'buy', price: new Decimal('0.55'), quantity: 1, fees: new Decimal('0'),
  trade_source: 'manual', order_type: 'limit', execution_environment: 'paper', trade_metadata: { nested: { list: [1, 'two', null] } },
});

describe('the generated types', () => {
  it('declare numeric as Decimal, int8 as bigint, date as string, timestamptz as Date, jsonb as Json', () => {
    expectTypeOf<RecordTradeResult['price']>().toEqualTypeOf<Decimal>();
    expectTypeOf<RecordTradeResult['edge_value']>().toEqualTypeOf<Decimal | null>();
    expectTypeOf<RecordTradeParams['price']>().toEqualTypeOf<Decimal>();
    expectTypeOf<ComparePaperAndLivePerformanceResult['trade_count']>().toEqualTypeOf<bigint>();
    expectTypeOf<LoadHistoricalGamesResult['game_date']>().toEqualTypeOf<string>();
    expectTypeOf<RecordTradeResult['execution_time']>().toEqualTypeOf<Date>();
    expectTypeOf<RecordTradeResult['trade_metadata']>().toEqualTypeOf<Json>();
    expectTypeOf<UpsertGameStateResult['linescores']>().toEqualTypeOf<Json>();
  });
});

describe('the values at run time', () => {
  it('numeric is a Decimal, timestamptz a Date, jsonb a parsed object', async () => {
    await withRollback(async (db) => {
      const trade = await recordTrade.run(fill(unique('MKT-CODEC')), db);
      expect(trade!.price).toBeInstanceOf(Decimal);
      expect(trade!.price.toFixed(4)).toBe('0.5500');
      expect(trade!.fees).toBeInstanceOf(Decimal);
      expect(trade!.execution_time).toBeInstanceOf(Date);
      expect(trade!.created_at).toBeInstanceOf(Date);
      expect(trade!.trade_metadata).toEqual({ nested: { list: [1, 'two', null] } });
      expect(typeof trade!.id).toBe('number');
    });
  });

  it('int8 is a bigint', async () => {
    await withRollback(async (db) => {
      const rows = await comparePaperAndLivePerformance.run({ from: new Date(0), to: new Date(1) }, db);
      expect(rows).toHaveLength(3);
      for (const row of rows) {
        expect(typeof row.trade_count).toBe('bigint');
        expect(typeof row.open_positions).toBe('bigint');
        expect(row.notional).toBeInstanceOf(Decimal);
      }
    });
  });

  it('date is the calendar day as YYYY-MM-DD, whatever the session time zone', async () => {
    await withRollback(async (db) => {
      await db.query("SET LOCAL TIME ZONE 'Pacific/Kiritimati'");
      const [game] = await loadHistoricalGames.run(
        {
          source: 'codec-test', sports: ['ncaaw'], seasons: [1901], game_dates: ['1901-12-31'],
          home_team_codes: [unique('H')], away_team_codes: [unique('A')], home_scores: [1], away_scores: [0],
          is_neutral_sites: [null], is_playoffs: [null], game_types: [null], external_game_ids: [null],
        },
        db,
      );
      expect(game!.game_date).toBe('1901-12-31');
    });
  });

  it('jsonb arrays parse to arrays; arrays of numeric, int8, date and jsonb parse element-wise', async () => {
    await withRollback(async (db) => {
      const state = await upsertGameState.run(
        {
          espn_event_id: unique('codec'), home_score: 0, away_score: 0, period: 0, game_status: 'pre', situation: {},
          game_date: new Date('2025-12-21T18:00:00Z'), league: 'nfl', linescores: [{ period: 1, home: 3 }],
        },
        db,
      );
      expect(state!.linescores).toEqual([{ period: 1, home: 3 }]);
      expect(state!.situation).toEqual({});

      const { rows: [row] } = await db.query({
        text: `SELECT ARRAY[0.1, NULL]::numeric[] AS numerics, ARRAY[9007199254740993]::int8[] AS int8s,
                      ARRAY['2024-02-29']::date[] AS dates, ARRAY['{"a":[1]}']::jsonb[] AS jsons`,
        types: pgTypes,
      });
      expect(row.numerics[0]).toBeInstanceOf(Decimal);
      expect(row.numerics[0].toFixed()).toBe('0.1');
      expect(row.numerics[1]).toBeNull();
      expect(row.int8s).toEqual([9007199254740993n]);
      expect(row.dates).toEqual(['2024-02-29']);
      expect(row.jsons).toEqual([{ a: [1] }]);
    });
  });
});

describe('money is never a JavaScript number', () => {
  it('a number where a Decimal is expected throws InvalidValueError naming the field, and writes nothing', async () => {
    await withRollback(async (db) => {
      const market = unique('MKT-FLOAT');
      const attempt = recordTrade.run({ ...fill(market), price: 0.55 as unknown as Decimal }, db);
      await expect(attempt).rejects.toThrow(InvalidValueError);
      await expect(attempt).rejects.toMatchObject({ field: 'recordTrade: price', value: 0.55 });
      await expect(attempt).rejects.toThrow(/recordTrade: price must be a Decimal.*JavaScript number 0\.55/);

      const inArray = recordTrades.run(
        {
          execution_environment: 'paper', market_ids: [market, market], position_ids: [null, null], strategy_ids: [null, null],
          model_ids: [null, null], order_ids: [null, null], sides: ['buy', 'buy'], prices: [new Decimal('0.5'), 0.5 as unknown as Decimal],
          quantities: [1, 1], fees: [new Decimal(0), new Decimal(0)], trade_sources: ['manual', 'manual'], order_types: ['limit', 'limit'],
          execution_times: [null, null], calculated_probabilities: [null, null], market_prices: [null, null], edge_values: [null, null],
          trade_metadata: [null, null],
        },
        db,
      );
      await expect(inArray).rejects.toMatchObject({ name: 'InvalidValueError', field: 'recordTrades: prices[1]' });

      const { rows } = await db.query({ text: 'SELECT count(*)::int AS n FROM trades WHERE market_id = $1', values: [market] });
      expect(rows[0].n).toBe(0);
    });
  });
});
