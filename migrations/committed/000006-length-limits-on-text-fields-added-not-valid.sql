--! Previous: sha1:517b502f3873f5e717d632af8a1e7063dd7c4dcf
--! Hash: sha1:8a30dc7a919bdd296800862780ebcb5b1c4a1e91
--! Message: Length limits on text fields, added NOT VALID

-- Text fields get a length limit, so an oversized value (a bug, or hostile input) is refused
-- with the rule's name instead of being stored. Limits are generous for real data: Kalshi
-- tickers are well under 100 characters.
--
-- NOT VALID: adding a CHECK to trades would otherwise scan every row while holding an ACCESS
-- EXCLUSIVE lock, stopping live trading for the length of the scan. New rows are checked from
-- now on; the next migration validates the existing ones under a weaker lock.

ALTER TABLE markets ADD CONSTRAINT markets_ticker_length CHECK (length(ticker) <= 124) NOT VALID;
ALTER TABLE markets ADD CONSTRAINT markets_title_length CHECK (length(title) <= 500) NOT VALID;
ALTER TABLE trades ADD CONSTRAINT trades_market_id_length CHECK (length(market_id) <= 128) NOT VALID;
ALTER TABLE trades ADD CONSTRAINT trades_order_id_length CHECK (length(order_id) <= 128) NOT VALID;
ALTER TABLE positions ADD CONSTRAINT positions_market_id_length CHECK (length(market_id) <= 128) NOT VALID;
ALTER TABLE positions ADD CONSTRAINT positions_exit_reason_length CHECK (length(exit_reason) <= 256) NOT VALID;
