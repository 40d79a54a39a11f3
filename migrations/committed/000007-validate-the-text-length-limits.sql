--! Previous: sha1:8a30dc7a919bdd296800862780ebcb5b1c4a1e91
--! Hash: sha1:888ef26f323e5cd2fab7dce72c2866701a500833
--! Message: Validate the text length limits

-- Validates the length limits added NOT VALID by the previous migration. VALIDATE CONSTRAINT
-- takes only a SHARE UPDATE EXCLUSIVE lock: reads and writes go on while existing rows are checked.

ALTER TABLE markets VALIDATE CONSTRAINT markets_ticker_length;
ALTER TABLE markets VALIDATE CONSTRAINT markets_title_length;
ALTER TABLE trades VALIDATE CONSTRAINT trades_market_id_length;
ALTER TABLE trades VALIDATE CONSTRAINT trades_order_id_length;
ALTER TABLE positions VALIDATE CONSTRAINT positions_market_id_length;
ALTER TABLE positions VALIDATE CONSTRAINT positions_exit_reason_length;
