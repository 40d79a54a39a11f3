/*
  Historical data (shared; model training and backtests): bulk loads and lookups.

  Loads are set-based (unnest of one array per column; element i of every array is row i, so
  all arrays must have the same length) and idempotent on each table's natural key:
  ON CONFLICT DO UPDATE, so re-running a load applies the source's corrections (a fixed score,
  a late closing line), guarded by IS DISTINCT FROM so an unchanged row is not rewritten.
  Each load returns the rows it inserted or changed: re-loading the same data returns none.
  A batch must not contain one natural key twice (PostgreSQL refuses to update a row twice in
  one statement: a loud error rather than an arbitrary winner). One load has one source.
*/

/* @name loadHistoricalGames */
INSERT INTO historical_games AS g (
  sport, season, game_date, home_team_code, away_team_code, home_score, away_score,
  is_neutral_site, is_playoff, game_type, source, external_game_id
)
SELECT
  sport, season, game_date, home_team_code, away_team_code, home_score, away_score,
  coalesce(is_neutral_site, false), coalesce(is_playoff, false), game_type, :source!,
  external_game_id
FROM unnest(
  :sports!::league[], :seasons!::integer[], :game_dates!::date[], :home_team_codes!::text[],
  :away_team_codes!::text[], :home_scores!::integer[], :away_scores!::integer[],
  :is_neutral_sites!::boolean[], :is_playoffs!::boolean[], :game_types!::text[],
  :external_game_ids!::text[]
) AS game (
  sport, season, game_date, home_team_code, away_team_code, home_score, away_score,
  is_neutral_site, is_playoff, game_type, external_game_id
)
ON CONFLICT (sport, game_date, home_team_code, away_team_code) DO UPDATE
SET season = excluded.season,
    home_score = excluded.home_score,
    away_score = excluded.away_score,
    is_neutral_site = excluded.is_neutral_site,
    is_playoff = excluded.is_playoff,
    game_type = excluded.game_type,
    source = excluded.source,
    external_game_id = excluded.external_game_id
WHERE (g.season, g.home_score, g.away_score, g.is_neutral_site, g.is_playoff, g.game_type,
       g.source, g.external_game_id)
      IS DISTINCT FROM
      (excluded.season, excluded.home_score, excluded.away_score, excluded.is_neutral_site,
       excluded.is_playoff, excluded.game_type, excluded.source, excluded.external_game_id)
RETURNING
  id, sport, season, game_date, home_team_code, away_team_code, home_score, away_score,
  is_neutral_site, is_playoff, game_type, source, external_game_id, created_at;

/*
  Lines per game and sportsbook. Each line is linked to its game (historical_game_id) when that
  game is loaded (same sport, date and teams); lines of games not loaded keep a NULL link.
*/
/* @name loadHistoricalOdds */
INSERT INTO historical_odds AS o (
  historical_game_id, sport, game_date, home_team_code, away_team_code, sportsbook,
  spread_home_open, spread_home_close, spread_home_odds_open, spread_home_odds_close,
  spread_away_odds_open, spread_away_odds_close, moneyline_home_open, moneyline_home_close,
  moneyline_away_open, moneyline_away_close, total_open, total_close, over_odds_open,
  over_odds_close, under_odds_open, under_odds_close, home_covered, game_went_over, source
)
SELECT
  game.id, line.sport, line.game_date, line.home_team_code, line.away_team_code, line.sportsbook,
  line.spread_home_open, line.spread_home_close, line.spread_home_odds_open,
  line.spread_home_odds_close, line.spread_away_odds_open, line.spread_away_odds_close,
  line.moneyline_home_open, line.moneyline_home_close, line.moneyline_away_open,
  line.moneyline_away_close, line.total_open, line.total_close, line.over_odds_open,
  line.over_odds_close, line.under_odds_open, line.under_odds_close, line.home_covered,
  line.game_went_over, :source!
FROM unnest(
  :sports!::league[], :game_dates!::date[], :home_team_codes!::text[], :away_team_codes!::text[],
  :sportsbooks!::text[], :spread_home_opens!::numeric[], :spread_home_closes!::numeric[],
  :spread_home_odds_opens!::integer[], :spread_home_odds_closes!::integer[],
  :spread_away_odds_opens!::integer[], :spread_away_odds_closes!::integer[],
  :moneyline_home_opens!::integer[], :moneyline_home_closes!::integer[],
  :moneyline_away_opens!::integer[], :moneyline_away_closes!::integer[],
  :total_opens!::numeric[], :total_closes!::numeric[], :over_odds_opens!::integer[],
  :over_odds_closes!::integer[], :under_odds_opens!::integer[], :under_odds_closes!::integer[],
  :home_covereds!::boolean[], :game_went_overs!::boolean[]
) AS line (
  sport, game_date, home_team_code, away_team_code, sportsbook, spread_home_open,
  spread_home_close, spread_home_odds_open, spread_home_odds_close, spread_away_odds_open,
  spread_away_odds_close, moneyline_home_open, moneyline_home_close, moneyline_away_open,
  moneyline_away_close, total_open, total_close, over_odds_open, over_odds_close,
  under_odds_open, under_odds_close, home_covered, game_went_over
)
LEFT JOIN historical_games game
  ON (game.sport, game.game_date, game.home_team_code, game.away_team_code)
   = (line.sport, line.game_date, line.home_team_code, line.away_team_code)
ON CONFLICT (sport, game_date, home_team_code, away_team_code, sportsbook) DO UPDATE
SET historical_game_id = excluded.historical_game_id,
    spread_home_open = excluded.spread_home_open,
    spread_home_close = excluded.spread_home_close,
    spread_home_odds_open = excluded.spread_home_odds_open,
    spread_home_odds_close = excluded.spread_home_odds_close,
    spread_away_odds_open = excluded.spread_away_odds_open,
    spread_away_odds_close = excluded.spread_away_odds_close,
    moneyline_home_open = excluded.moneyline_home_open,
    moneyline_home_close = excluded.moneyline_home_close,
    moneyline_away_open = excluded.moneyline_away_open,
    moneyline_away_close = excluded.moneyline_away_close,
    total_open = excluded.total_open,
    total_close = excluded.total_close,
    over_odds_open = excluded.over_odds_open,
    over_odds_close = excluded.over_odds_close,
    under_odds_open = excluded.under_odds_open,
    under_odds_close = excluded.under_odds_close,
    home_covered = excluded.home_covered,
    game_went_over = excluded.game_went_over,
    source = excluded.source
WHERE (o.historical_game_id, o.spread_home_open, o.spread_home_close, o.spread_home_odds_open,
       o.spread_home_odds_close, o.spread_away_odds_open, o.spread_away_odds_close,
       o.moneyline_home_open, o.moneyline_home_close, o.moneyline_away_open,
       o.moneyline_away_close, o.total_open, o.total_close, o.over_odds_open, o.over_odds_close,
       o.under_odds_open, o.under_odds_close, o.home_covered, o.game_went_over, o.source)
      IS DISTINCT FROM
      (excluded.historical_game_id, excluded.spread_home_open, excluded.spread_home_close,
       excluded.spread_home_odds_open, excluded.spread_home_odds_close,
       excluded.spread_away_odds_open, excluded.spread_away_odds_close,
       excluded.moneyline_home_open, excluded.moneyline_home_close,
       excluded.moneyline_away_open, excluded.moneyline_away_close, excluded.total_open,
       excluded.total_close, excluded.over_odds_open, excluded.over_odds_close,
       excluded.under_odds_open, excluded.under_odds_close, excluded.home_covered,
       excluded.game_went_over, excluded.source)
RETURNING
  id, historical_game_id, sport, game_date, home_team_code, away_team_code, sportsbook,
  spread_home_open, spread_home_close, spread_home_odds_open, spread_home_odds_close,
  spread_away_odds_open, spread_away_odds_close, moneyline_home_open, moneyline_home_close,
  moneyline_away_open, moneyline_away_close, total_open, total_close, over_odds_open,
  over_odds_close, under_odds_open, under_odds_close, home_covered, game_went_over, source,
  created_at;

/* Elo ratings by team and date; a team's sport must be its league (composite foreign key). */
/* @name loadHistoricalElo */
INSERT INTO historical_elo AS e (
  team_id, sport, season, rating_date, elo_rating, qb_adjusted_elo, source
)
SELECT team_id, sport, season, rating_date, elo_rating, qb_adjusted_elo, :source!
FROM unnest(
  :team_ids!::integer[], :sports!::league[], :seasons!::integer[], :rating_dates!::date[],
  :elo_ratings!::numeric[], :qb_adjusted_elos!::numeric[]
) AS rating (team_id, sport, season, rating_date, elo_rating, qb_adjusted_elo)
ON CONFLICT (team_id, rating_date) DO UPDATE
SET sport = excluded.sport,
    season = excluded.season,
    elo_rating = excluded.elo_rating,
    qb_adjusted_elo = excluded.qb_adjusted_elo,
    source = excluded.source
WHERE (e.sport, e.season, e.elo_rating, e.qb_adjusted_elo, e.source)
      IS DISTINCT FROM
      (excluded.sport, excluded.season, excluded.elo_rating, excluded.qb_adjusted_elo,
       excluded.source)
RETURNING
  id, team_id, sport, season, rating_date, elo_rating, qb_adjusted_elo, source, created_at;

/* A sport's season, in date order. */
/* @name listHistoricalGamesBySeason */
SELECT
  id, sport, season, game_date, home_team_code, away_team_code, home_score, away_score,
  is_neutral_site, is_playoff, game_type, source, external_game_id, created_at
FROM historical_games
WHERE sport = :sport!
  AND season = :season!
ORDER BY game_date, home_team_code;

/* A team's games (home or away) in a date range, both ends included, in date order. */
/* @name listHistoricalGamesByTeam */
SELECT
  id, sport, season, game_date, home_team_code, away_team_code, home_score, away_score,
  is_neutral_site, is_playoff, game_type, source, external_game_id, created_at
FROM historical_games
WHERE sport = :sport!
  AND (home_team_code = :team_code! OR away_team_code = :team_code!)
  AND game_date BETWEEN :from_date! AND :to_date!
ORDER BY game_date, home_team_code;

/* @name listHistoricalGamesOnDate */
SELECT
  id, sport, season, game_date, home_team_code, away_team_code, home_score, away_score,
  is_neutral_site, is_playoff, game_type, source, external_game_id, created_at
FROM historical_games
WHERE sport = :sport!
  AND game_date = :game_date!
ORDER BY home_team_code;

/* Lines of a sport's games in a date range (both ends included), by date, game and book. */
/* @name listHistoricalOddsByDateRange */
SELECT
  id, historical_game_id, sport, game_date, home_team_code, away_team_code, sportsbook,
  spread_home_open, spread_home_close, spread_home_odds_open, spread_home_odds_close,
  spread_away_odds_open, spread_away_odds_close, moneyline_home_open, moneyline_home_close,
  moneyline_away_open, moneyline_away_close, total_open, total_close, over_odds_open,
  over_odds_close, under_odds_open, under_odds_close, home_covered, game_went_over, source,
  created_at
FROM historical_odds
WHERE sport = :sport!
  AND game_date BETWEEN :from_date! AND :to_date!
ORDER BY game_date, home_team_code, sportsbook;

/* @name listHistoricalOddsForGame */
SELECT
  id, historical_game_id, sport, game_date, home_team_code, away_team_code, sportsbook,
  spread_home_open, spread_home_close, spread_home_odds_open, spread_home_odds_close,
  spread_away_odds_open, spread_away_odds_close, moneyline_home_open, moneyline_home_close,
  moneyline_away_open, moneyline_away_close, total_open, total_close, over_odds_open,
  over_odds_close, under_odds_open, under_odds_close, home_covered, game_went_over, source,
  created_at
FROM historical_odds
WHERE historical_game_id = :historical_game_id!
ORDER BY sportsbook;

/*
  A team's rating as of a date: the latest rating on or before it. A backtest must never see a
  rating from after the simulated day (look-ahead bias), hence "on or before", not "nearest".
*/
/* @name getEloRatingAsOf */
SELECT id, team_id, sport, season, rating_date, elo_rating, qb_adjusted_elo, source, created_at
FROM historical_elo
WHERE team_id = :team_id!
  AND rating_date <= :as_of!
ORDER BY rating_date DESC
LIMIT 1;

/* A sport's ratings over a season, by team and date. */
/* @name listEloRatingsBySeason */
SELECT id, team_id, sport, season, rating_date, elo_rating, qb_adjusted_elo, source, created_at
FROM historical_elo
WHERE sport = :sport!
  AND season = :season!
ORDER BY team_id, rating_date;
