/** sql/game-states.sql against the real server: a new version only on a meaningful change, never for the clock. */
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import {
  getCurrentGameState,
  listGameStateHistory,
  listGamesOnDate,
  listLiveGames,
  upsertGameState,
  type UpsertGameStateParams,
} from '../../generated/game-states.js';
import { withRollback } from '../support/db.js';
import { team, unique } from './fixtures.js';

function snapshot(eventId: string, overrides: Partial<UpsertGameStateParams> = {}): UpsertGameStateParams {
  return {
    espn_event_id: eventId,
    home_score: 0,
    away_score: 0,
    period: 1,
    clock_seconds: new Decimal('900.00'),
    clock_display: '15:00',
    game_status: 'in_progress',
    game_date: new Date('2025-12-21T18:00:00Z'),
    league: 'nfl',
    situation: { down: 1, distance: 10, possession: 'home' },
    ...overrides,
  };
}

describe('upsertGameState', () => {
  it('writes the first version, then versions only for score, period, status or situation changes', async () => {
    await withRollback(async (db) => {
      const home = await team(db, 'nfl', unique('H'));
      const away = await team(db, 'nfl', unique('A'));
      const id = unique('401');
      const first = await upsertGameState.run(
        snapshot(id, { home_team_id: home, away_team_id: away, linescores: [{ period: 1, home: 0, away: 0 }] }),
        db,
      );
      expect(first).toMatchObject({
        espn_event_id: id, home_team_id: home, away_team_id: away, home_score: 0, period: 1, clock_display: '15:00',
        game_status: 'in_progress', league: 'nfl', situation: { down: 1, distance: 10, possession: 'home' },
        linescores: [{ period: 1, home: 0, away: 0 }], row_current_ind: true, row_end_ts: null,
      });
      expect(first!.clock_seconds!.toFixed(2)).toBe('900.00');
      expect(first!.game_date.toISOString()).toBe('2025-12-21T18:00:00.000Z');

      // The clock alone: no version, no row.
      expect(await upsertGameState.run(snapshot(id, { clock_seconds: new Decimal('612.50'), clock_display: '10:12' }), db)).toBeUndefined();
      // The same situation written with keys in another order is the same jsonb: no version.
      expect(await upsertGameState.run(snapshot(id, { situation: { possession: 'home', distance: 10, down: 1 } }), db)).toBeUndefined();

      const score = await upsertGameState.run(snapshot(id, { home_score: 7, clock_seconds: new Decimal('480'), clock_display: '8:00' }), db);
      expect(score).toMatchObject({ home_score: 7, clock_display: '8:00' });
      const situation = await upsertGameState.run(snapshot(id, { home_score: 7, situation: { down: 2, distance: 4, possession: 'away' } }), db);
      expect(situation!.situation).toEqual({ down: 2, distance: 4, possession: 'away' });
      const period = await upsertGameState.run(snapshot(id, { home_score: 7, period: 2, situation: { down: 2, distance: 4, possession: 'away' } }), db);
      expect(period!.period).toBe(2);
      const status = await upsertGameState.run(
        snapshot(id, { home_score: 7, period: 2, game_status: 'halftime', situation: { down: 2, distance: 4, possession: 'away' } }),
        db,
      );
      expect(status!.game_status).toBe('halftime');

      const history = await listGameStateHistory.run({ espn_event_id: id }, db);
      expect(history.map((v) => [v.home_score, v.period, v.game_status, v.row_current_ind])).toEqual([
        [0, 1, 'in_progress', false],
        [7, 1, 'in_progress', false],
        [7, 1, 'in_progress', false],
        [7, 2, 'in_progress', false],
        [7, 2, 'halftime', true],
      ]);
      for (let i = 0; i < history.length - 1; i++) {
        expect(history[i]!.row_end_ts!.getTime()).toBe(history[i + 1]!.row_start_ts.getTime());
      }
      const current = await getCurrentGameState.run({ espn_event_id: id }, db);
      expect(current!.id).toBe(status!.id);
      expect(await getCurrentGameState.run({ espn_event_id: unique('none') }, db)).toBeUndefined();
    });
  });
});

describe('listLiveGames and listGamesOnDate', () => {
  it('return current versions only, live statuses only, by league and by local calendar day', async () => {
    await withRollback(async (db) => {
      const ids = { live: unique('L'), half: unique('H'), final: unique('F'), pre: unique('P'), nba: unique('N') };
      // 23:30 New York on 2025-12-21 is 04:30 UTC on the 22nd.
      const lateNight = new Date('2025-12-22T04:30:00Z');
      await upsertGameState.run(snapshot(ids.live, { game_date: lateNight }), db);
      await upsertGameState.run(snapshot(ids.half, { game_status: 'halftime' }), db);
      await upsertGameState.run(snapshot(ids.final, { game_status: 'in_progress' }), db);
      await upsertGameState.run(snapshot(ids.final, { game_status: 'final', home_score: 21 }), db);
      await upsertGameState.run(snapshot(ids.pre, { game_status: 'pre', period: 0, game_date: new Date('2025-12-23T01:00:00Z') }), db);
      await upsertGameState.run(snapshot(ids.nba, { league: 'nba', game_status: 'end_of_period' }), db);

      const mine = (rows: readonly { espn_event_id: string }[]) =>
        rows.map((row) => row.espn_event_id).filter((id) => Object.values(ids).includes(id)).sort();

      const live = await listLiveGames.run({}, db);
      expect(mine(live)).toEqual([ids.live, ids.half, ids.nba].sort());
      expect(live.every((row) => row.row_current_ind)).toBe(true);
      expect(mine(await listLiveGames.run({ league: 'nfl' }, db))).toEqual([ids.live, ids.half].sort());

      const sunday = await listGamesOnDate.run({ game_day: '2025-12-21', time_zone: 'America/New_York' }, db);
      expect(mine(sunday)).toEqual([ids.live, ids.half, ids.final, ids.nba].sort());
      expect(sunday.find((row) => row.espn_event_id === ids.final)!.game_status).toBe('final');
      expect(mine(await listGamesOnDate.run({ game_day: '2025-12-21', time_zone: 'UTC' }, db))).toEqual([ids.half, ids.final, ids.nba].sort());
      expect(mine(await listGamesOnDate.run({ game_day: '2025-12-21', time_zone: 'America/New_York', league: 'nba' }, db))).toEqual([ids.nba]);
      expect(mine(await listGamesOnDate.run({ game_day: '2025-12-22', time_zone: 'America/New_York' }, db))).toEqual([ids.pre]);
    });
  });
});
