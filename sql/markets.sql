/*
  Markets: shared by every execution environment ("prices are prices"), SCD Type 2 keyed by
  market_id = 'MKT-{ticker}'. A price or status change closes the current version and inserts
  the next in one statement, copying every other column forward (created_at included, so it
  stays the market's first sighting). Same locking and zero-row contract as positions.sql.
*/

/* Records a market seen for the first time (its first current version). */
/* @name createMarket */
INSERT INTO markets (
  market_id, platform_id, ticker, title, market_type, yes_price, no_price, spread,
  volume, open_interest, status, metadata
)
VALUES (
  'MKT-' || :ticker!::text, :platform_id!, :ticker!::text, :title!, :market_type!, :yes_price!,
  :no_price!, :spread, coalesce(:volume::integer, 0), coalesce(:open_interest::integer, 0),
  coalesce(:status::market_status, 'open'), coalesce(:metadata::jsonb, '{}')
)
RETURNING
  id, market_id, platform_id, ticker, title, market_type, yes_price, no_price, spread,
  settlement_value, volume, open_interest, status, metadata, created_at, updated_at,
  row_current_ind, row_start_ts, row_end_ts;

/*
  Records a price observation. A new version is written ONLY when yes_price, no_price or status
  differ from the current version; then spread, volume, open_interest and settlement_value take
  the given values, or keep the current ones when not given. Returns the new version, or no row
  when nothing changed (or the ticker has no current version, or a concurrent writer superseded
  it: re-read and retry). Volume or spread alone is not a new version.
*/
/* @name recordMarketPrice */
-- @returns maybe
-- scd-write: a concurrent writer of the same key makes this fail under REPEATABLE READ; precog-db retries it
WITH current_version AS (
  SELECT id, greatest(statement_timestamp(), row_start_ts) AS changed_at
  FROM markets
  WHERE ticker = :ticker!
    AND row_current_ind
    AND (yes_price, no_price, status) IS DISTINCT FROM
        (:yes_price!::numeric, :no_price!::numeric, :status!::market_status)
  FOR UPDATE
),
closed AS (
  UPDATE markets m
  SET row_current_ind = false, row_end_ts = current_version.changed_at
  FROM current_version
  WHERE m.id = current_version.id
  RETURNING
    m.market_id, m.platform_id, m.ticker, m.title, m.market_type, m.yes_price, m.no_price,
    m.spread, m.settlement_value, m.volume, m.open_interest, m.status, m.metadata, m.created_at,
    current_version.changed_at
)
INSERT INTO markets (
  market_id, platform_id, ticker, title, market_type, yes_price, no_price, spread,
  settlement_value, volume, open_interest, status, metadata, created_at, updated_at,
  row_current_ind, row_start_ts, row_end_ts
)
SELECT
  market_id, platform_id, ticker, title, market_type,
  :yes_price!,                                              -- changed
  :no_price!,                                               -- changed
  coalesce(:spread::numeric, spread),
  coalesce(:settlement_value::numeric, settlement_value),
  coalesce(:volume::integer, volume),
  coalesce(:open_interest::integer, open_interest),
  :status!,                                                 -- changed
  metadata, created_at, changed_at, true, changed_at, NULL
FROM closed
RETURNING
  id, market_id, platform_id, ticker, title, market_type, yes_price, no_price, spread,
  settlement_value, volume, open_interest, status, metadata, created_at, updated_at,
  row_current_ind, row_start_ts, row_end_ts;

/* @name getCurrentMarketByTicker */
SELECT
  id, market_id, platform_id, ticker, title, market_type, yes_price, no_price, spread,
  settlement_value, volume, open_interest, status, metadata, created_at, updated_at,
  row_current_ind, row_start_ts, row_end_ts
FROM markets
WHERE ticker = :ticker!
  AND row_current_ind;

/* Every version of a market, oldest first: its price and status history. */
/* @name listMarketPriceHistory */
SELECT
  id, market_id, ticker, yes_price, no_price, spread, settlement_value, volume, open_interest,
  status, row_current_ind, row_start_ts, row_end_ts
FROM markets
WHERE market_id = :market_id!
ORDER BY row_start_ts, id;
