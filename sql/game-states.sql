/*
  Game states: live ESPN data shared by every execution environment ("game states are game
  states"), SCD Type 2 keyed by espn_event_id.
*/

/*
  Records an ESPN snapshot of a game. Writes the first version of a game not seen before, or a
  new version when the score, period, status or situation differ from the current version; the
  clock alone is not a change (a snapshot every few seconds would otherwise version the game on
  every tick). Returns the version written, or no row when nothing meaningful changed. A new
  version takes every column from the snapshot (ESPN sends the whole game each time).
  Concurrent writers of one game: the current version is locked FOR UPDATE; a writer that
  finds it superseded (or loses a first-sighting race) falls to ON CONFLICT DO NOTHING and
  returns no row, never a second current version.
*/
/* @name upsertGameState */
-- scd-write: a concurrent writer of the same game makes this fail under REPEATABLE READ; precog-db retries it
WITH current_version AS (
  SELECT
    id,
    (home_score, away_score, period, game_status, situation) IS DISTINCT FROM
      (:home_score!::integer, :away_score!::integer, :period!::integer,
       :game_status!::game_status, :situation!::jsonb) AS changed,
    greatest(statement_timestamp(), row_start_ts) AS changed_at
  FROM game_states
  WHERE espn_event_id = :espn_event_id!
    AND row_current_ind
  FOR UPDATE
),
closed AS (
  UPDATE game_states g
  SET row_current_ind = false, row_end_ts = current_version.changed_at
  FROM current_version
  WHERE g.id = current_version.id
    AND current_version.changed
  RETURNING current_version.changed_at
)
INSERT INTO game_states (
  espn_event_id, home_team_id, away_team_id, home_score, away_score, period, clock_seconds,
  clock_display, game_status, game_date, league, situation, linescores, row_start_ts
)
SELECT
  :espn_event_id!, :home_team_id, :away_team_id, :home_score!, :away_score!, :period!,
  :clock_seconds, :clock_display, :game_status!, :game_date!, :league!, :situation!,
  coalesce(:linescores::jsonb, '[]'),
  coalesce((SELECT changed_at FROM closed), statement_timestamp())
WHERE EXISTS (SELECT FROM closed)
   OR NOT EXISTS (SELECT FROM current_version)
ON CONFLICT (espn_event_id) WHERE row_current_ind DO NOTHING
RETURNING
  id, espn_event_id, home_team_id, away_team_id, home_score, away_score, period, clock_seconds,
  clock_display, game_status, game_date, league, situation, linescores, row_current_ind,
  row_start_ts, row_end_ts;

/* @name getCurrentGameState */
SELECT
  id, espn_event_id, home_team_id, away_team_id, home_score, away_score, period, clock_seconds,
  clock_display, game_status, game_date, league, situation, linescores, row_current_ind,
  row_start_ts, row_end_ts
FROM game_states
WHERE espn_event_id = :espn_event_id!
  AND row_current_ind;

/* Every version of a game, oldest first. */
/* @name listGameStateHistory */
SELECT
  id, espn_event_id, home_team_id, away_team_id, home_score, away_score, period, clock_seconds,
  clock_display, game_status, game_date, league, situation, linescores, row_current_ind,
  row_start_ts, row_end_ts
FROM game_states
WHERE espn_event_id = :espn_event_id!
ORDER BY row_start_ts, id;

/*
  Games being played now (in_progress, halftime, end_of_period: the status list of the partial
  index game_states_live_idx, repeated so the index is used), of one league or, without
  :league, of all.
*/
/* @name listLiveGames */
SELECT
  id, espn_event_id, home_team_id, away_team_id, home_score, away_score, period, clock_seconds,
  clock_display, game_status, game_date, league, situation, linescores, row_current_ind,
  row_start_ts, row_end_ts
FROM game_states
WHERE row_current_ind
  AND game_status IN ('in_progress', 'halftime', 'end_of_period')
  AND (:league::league IS NULL OR league = :league::league)
ORDER BY game_date, espn_event_id;

/*
  Current state of the games starting on a calendar day. A day has no time zone but game_date
  is an instant, so the caller names the zone the day is counted in (e.g. 'America/New_York'
  for US leagues); a game at 23:30 New York time is on that day, not the next UTC one.
*/
/* @name listGamesOnDate */
SELECT
  id, espn_event_id, home_team_id, away_team_id, home_score, away_score, period, clock_seconds,
  clock_display, game_status, game_date, league, situation, linescores, row_current_ind,
  row_start_ts, row_end_ts
FROM game_states
WHERE row_current_ind
  AND game_date >= (:game_day!::date)::timestamp AT TIME ZONE :time_zone!::text
  AND game_date < (:game_day!::date + 1)::timestamp AT TIME ZONE :time_zone!::text
  AND (:league::league IS NULL OR league = :league::league)
ORDER BY game_date, espn_event_id;
