/** sql/historical.sql against the real server: set-based, idempotent loads and the lookups backtests use. */
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import {
  getEloRatingAsOf,
  listEloRatingsBySeason,
  listHistoricalGamesBySeason,
  listHistoricalGamesByTeam,
  listHistoricalGamesOnDate,
  listHistoricalOddsByDateRange,
  listHistoricalOddsForGame,
  loadHistoricalElo,
  loadHistoricalGames,
  loadHistoricalOdds,
  type LoadHistoricalGamesParams,
  type LoadHistoricalOddsParams,
} from '../../generated/historical.js';
import { withRollback } from '../support/db.js';
import { team, unique } from './fixtures.js';

const d = (value: string) => new Decimal(value);

// wnba, a season far from anything else the suite loads: rows of other tests do not show up.
function games(home: string, away: string, other: string): LoadHistoricalGamesParams {
  return {
    source: 'fivethirtyeight',
    sports: ['wnba', 'wnba', 'wnba'],
    seasons: [1931, 1931, 1931],
    game_dates: ['1931-05-01', '1931-05-08', '1931-05-15'],
    home_team_codes: [home, away, home],
    away_team_codes: [away, home, other],
    home_scores: [78, 81, null],
    away_scores: [70, 90, null],
    is_neutral_sites: [false, null, true],
    is_playoffs: [false, false, true],
    game_types: ['regular', 'regular', null],
    external_game_ids: ['g1', null, 'g3'],
  };
}

function odds(home: string, away: string): LoadHistoricalOddsParams {
  const none = [null, null];
  return {
    source: 'sbr',
    sports: ['wnba', 'wnba'],
    game_dates: ['1931-05-01', '1931-06-01'],
    home_team_codes: [home, home],
    away_team_codes: [away, away],
    sportsbooks: ['consensus', 'consensus'],
    spread_home_opens: [d('-3.5'), null],
    spread_home_closes: [d('-4.0'), d('1.5')],
    spread_home_odds_opens: [-110, null],
    spread_home_odds_closes: [-105, null],
    spread_away_odds_opens: none,
    spread_away_odds_closes: none,
    moneyline_home_opens: [-160, null],
    moneyline_home_closes: [-175, null],
    moneyline_away_opens: [140, null],
    moneyline_away_closes: [150, null],
    total_opens: [d('151.5'), null],
    total_closes: [d('152.0'), null],
    over_odds_opens: none,
    over_odds_closes: [-110, null],
    under_odds_opens: none,
    under_odds_closes: [-110, null],
    home_covereds: [true, null],
    game_went_overs: [false, null],
  };
}

describe('historical games and odds', () => {
  it('loads in one statement, links odds to their games, re-loads idempotently and applies corrections', async () => {
    await withRollback(async (db) => {
      const [home, away, other] = [unique('H'), unique('A'), unique('O')];
      const loaded = await loadHistoricalGames.run(games(home, away, other), db);
      expect(loaded).toHaveLength(3);
      const first = loaded.find((g) => g.game_date === '1931-05-01')!;
      expect(first).toMatchObject({
        sport: 'wnba', season: 1931, home_team_code: home, away_team_code: away, home_score: 78, away_score: 70,
        is_neutral_site: false, is_playoff: false, game_type: 'regular', source: 'fivethirtyeight', external_game_id: 'g1',
      });
      expect(loaded.find((g) => g.game_date === '1931-05-08')!.is_neutral_site).toBe(false); // NULL -> default false

      // Same data again: nothing written. A corrected score: only that row.
      expect(await loadHistoricalGames.run(games(home, away, other), db)).toEqual([]);
      const corrected = games(home, away, other);
      corrected.home_scores = [78, 82, null];
      const changed = await loadHistoricalGames.run(corrected, db);
      expect(changed.map((g) => [g.game_date, g.home_score])).toEqual([['1931-05-08', 82]]);

      const lines = await loadHistoricalOdds.run(odds(home, away), db);
      expect(lines).toHaveLength(2);
      const linked = lines.find((l) => l.game_date === '1931-05-01')!;
      expect(linked.historical_game_id).toBe(first.id);
      expect(linked.spread_home_open!.toFixed(1)).toBe('-3.5');
      expect(linked.total_close!.equals(d('152'))).toBe(true);
      expect(linked).toMatchObject({ moneyline_home_close: -175, moneyline_away_close: 150, home_covered: true, game_went_over: false, source: 'sbr' });
      expect(lines.find((l) => l.game_date === '1931-06-01')!.historical_game_id).toBeNull();
      expect(await loadHistoricalOdds.run(odds(home, away), db)).toEqual([]);

      const season = await listHistoricalGamesBySeason.run({ sport: 'wnba', season: 1931 }, db);
      expect(season.filter((g) => g.home_team_code === home || g.away_team_code === home).map((g) => g.game_date)).toEqual([
        '1931-05-01', '1931-05-08', '1931-05-15',
      ]);
      const byTeam = await listHistoricalGamesByTeam.run({ sport: 'wnba', team_code: away, from_date: '1931-05-01', to_date: '1931-05-08' }, db);
      expect(byTeam.map((g) => [g.game_date, g.home_team_code])).toEqual([['1931-05-01', home], ['1931-05-08', away]]);
      const onDate = await listHistoricalGamesOnDate.run({ sport: 'wnba', game_date: '1931-05-15' }, db);
      expect(onDate.filter((g) => g.home_team_code === home)).toMatchObject([{ away_team_code: other, is_playoff: true, home_score: null }]);

      const range = await listHistoricalOddsByDateRange.run({ sport: 'wnba', from_date: '1931-05-01', to_date: '1931-06-30' }, db);
      expect(range.filter((l) => l.home_team_code === home).map((l) => l.game_date)).toEqual(['1931-05-01', '1931-06-01']);
      const forGame = await listHistoricalOddsForGame.run({ historical_game_id: first.id }, db);
      expect(forGame.map((l) => l.id)).toEqual([linked.id]);
    });
  });
});

describe('historical Elo', () => {
  it('loads ratings, and looks them up as of a date without looking ahead', async () => {
    await withRollback(async (db) => {
      const teamId = await team(db, 'nfl', unique('KC'));
      const rivalId = await team(db, 'nfl', unique('DEN'));
      const load = {
        source: '538',
        team_ids: [teamId, teamId, rivalId],
        sports: ['nfl' as const, 'nfl' as const, 'nfl' as const],
        seasons: [1925, 1925, 1925],
        rating_dates: ['1925-09-01', '1925-09-08', '1925-09-01'],
        elo_ratings: [d('1612.35'), d('1630.10'), d('1488.00')],
        qb_adjusted_elos: [d('1620.00'), null, null],
      };
      const loaded = await loadHistoricalElo.run(load, db);
      expect(loaded).toHaveLength(3);
      expect(loaded[0]!.elo_rating.equals(d('1612.35'))).toBe(true);
      expect(loaded[0]!.qb_adjusted_elo!.toFixed(2)).toBe('1620.00');
      expect(loaded[0]).toMatchObject({ team_id: teamId, sport: 'nfl', season: 1925, rating_date: '1925-09-01', source: '538' });
      expect(await loadHistoricalElo.run(load, db)).toEqual([]);

      expect(await getEloRatingAsOf.run({ team_id: teamId, as_of: '1925-08-31' }, db)).toBeUndefined();
      const asOfSept7 = await getEloRatingAsOf.run({ team_id: teamId, as_of: '1925-09-07' }, db);
      expect(asOfSept7!.rating_date).toBe('1925-09-01');
      expect(asOfSept7!.elo_rating.toFixed(2)).toBe('1612.35');
      const asOfSept8 = await getEloRatingAsOf.run({ team_id: teamId, as_of: '1925-09-08' }, db);
      expect(asOfSept8!.elo_rating.toFixed(2)).toBe('1630.10');

      const season = await listEloRatingsBySeason.run({ sport: 'nfl', season: 1925 }, db);
      const mine = season.filter((r) => r.team_id === teamId || r.team_id === rivalId);
      expect(mine.map((r) => [r.team_id, r.rating_date])).toEqual([
        [teamId, '1925-09-01'], [teamId, '1925-09-08'], [rivalId, '1925-09-01'],
      ]); // teamId < rivalId: identities are handed out in order
    });
  });
});
