--! Previous: sha1:888ef26f323e5cd2fab7dce72c2866701a500833
--! Hash: sha1:4b91531118f6a26d713c55b41226df8d92c568e5
--! Message: Partition trades and positions by execution environment; purge backtests by TRUNCATE

-- 000008: trades and positions LIST-partitioned by execution_environment, so that purging
-- backtests is a TRUNCATE of two partitions (constant time) instead of a DELETE of every
-- backtest row with its row triggers (BENCHMARKS.md, section 4: ~8 s for 1M trades).
--
--   partitioned table   partitions (one per environment)                  plus
--   ------------------  ------------------------------------------------  ----------------------------
--   trades              trades_live, trades_paper, trades_backtest        trades_environment_missing
--   positions           positions_live, positions_paper, positions_backtest  positions_environment_missing
--
-- What stays as it was, on the partitioned parents (the only relations anybody but the owner
-- may use): the columns with their types, NOT NULLs, CHECKs, defaults, identity and comments;
-- every trigger of 000003-000005 (BEFORE ROW triggers of a partitioned table are cloned onto
-- each partition); row-level security with the same policies; the same grants; the indexes
-- (created on the parent, so on every partition); the ADR-107 views (re-pointed with CREATE OR
-- REPLACE, which keeps their grants, comments and security_invoker).
--
-- What changes, because a partitioned table requires it:
--   * Primary keys include the partition key: (id, execution_environment). ids still come from
--     one identity sequence per table, so they stay distinct across environments in practice,
--     but only (id, execution_environment) is a constraint: every reference and lookup by id
--     also names the environment (the composite FK always did; the SCD writes in
--     sql/positions.sql now match the closed version on both).
--   * The one-current-version index is (position_key, execution_environment) WHERE
--     row_current_ind. That a position_key's versions share one environment stays the job of
--     positions_guard_insert ([environment-immutable]), as before.
--   * The composite FK [environment-cross-reference] is declared per partition pair
--     (trades_live -> positions_live, ...), each named trades_position_same_environment_fkey as
--     before. A foreign key declared on the parents would reference every positions partition,
--     and PostgreSQL refuses to TRUNCATE a referenced partition unless the whole referencing
--     table is truncated with it. A row of trades_paper is a paper trade, a row of
--     positions_paper a paper position: the per-partition key is the same rule.
--     positions_id_environment_key is gone: the primary key is now that key.
--   * *_environment_missing is the partition for a NULL environment. It can never hold a row
--     (NOT NULL), but routing a row without an environment to it lets the trigger of 000005
--     refuse it with [environment-required] instead of "no partition of relation found".
--   * TRUNCATE: refuse_truncate stays on both parents and is added to the live and paper
--     partitions; only the backtest partitions may be truncated, which purge_backtest_data()
--     does.
--   * The roles get no privilege on any partition (reading a partition directly would bypass
--     the parent's policies), and each partition has row-level security enabled with no
--     policy, so even a mistaken GRANT on one would show nobody else a row.
--
-- Existing rows are copied with their ids; the identity sequences continue after the highest
-- id ever issued. The copy holds ACCESS EXCLUSIVE locks on trades and positions for its
-- duration (it runs in the migration's transaction): run it when trading is stopped.
--
-- Runs inside the transaction graphile-migrate opens (no BEGIN/COMMIT here). Not re-runnable:
-- on a database where it has run, the RENAMEs below fail.

--------------------------------------------------------------------------------
-- 1. Move the current tables aside
--------------------------------------------------------------------------------
-- The ADR-107 views follow the renamed tables until section 4 re-points them; everything
-- else that names trades or positions (functions, queries) does so by name.
ALTER TABLE trades RENAME TO trades_unpartitioned;
ALTER TABLE positions RENAME TO positions_unpartitioned;
-- Free the names the new tables' identity sequences take.
ALTER SEQUENCE trades_id_seq RENAME TO trades_unpartitioned_id_seq;
ALTER SEQUENCE positions_id_seq RENAME TO positions_unpartitioned_id_seq;

--------------------------------------------------------------------------------
-- 2. The partitioned tables
--------------------------------------------------------------------------------
-- LIKE copies the columns in order with their types, NOT NULLs, defaults, CHECK constraints
-- (with their names), identity and column comments. Indexes, keys, triggers, policies and
-- grants are declared below.
CREATE TABLE positions (
  LIKE positions_unpartitioned
    INCLUDING COMMENTS INCLUDING CONSTRAINTS INCLUDING DEFAULTS INCLUDING IDENTITY
    INCLUDING STORAGE INCLUDING COMPRESSION
) PARTITION BY LIST (execution_environment);
CREATE TABLE positions_live PARTITION OF positions FOR VALUES IN ('live');
CREATE TABLE positions_paper PARTITION OF positions FOR VALUES IN ('paper');
CREATE TABLE positions_backtest PARTITION OF positions FOR VALUES IN ('backtest');
CREATE TABLE positions_environment_missing PARTITION OF positions FOR VALUES IN (NULL);

CREATE TABLE trades (
  LIKE trades_unpartitioned
    INCLUDING COMMENTS INCLUDING CONSTRAINTS INCLUDING DEFAULTS INCLUDING IDENTITY
    INCLUDING STORAGE INCLUDING COMPRESSION
) PARTITION BY LIST (execution_environment);
CREATE TABLE trades_live PARTITION OF trades FOR VALUES IN ('live');
CREATE TABLE trades_paper PARTITION OF trades FOR VALUES IN ('paper');
CREATE TABLE trades_backtest PARTITION OF trades FOR VALUES IN ('backtest');
CREATE TABLE trades_environment_missing PARTITION OF trades FOR VALUES IN (NULL);

--------------------------------------------------------------------------------
-- 3. The rows, with their ids
--------------------------------------------------------------------------------
-- Before any trigger or index exists on the new tables: every row already passed them.
INSERT INTO positions OVERRIDING SYSTEM VALUE SELECT * FROM positions_unpartitioned;
INSERT INTO trades OVERRIDING SYSTEM VALUE SELECT * FROM trades_unpartitioned;

-- Continue after the highest id ever issued (an id of a purged backtest row is not reused).
SELECT setval(pg_get_serial_sequence('positions', 'id'), s.last_value, s.is_called)
  FROM (SELECT greatest(q.last_value, coalesce(m.max_id, 0)) AS last_value, q.is_called OR m.max_id IS NOT NULL AS is_called
          FROM positions_unpartitioned_id_seq q, (SELECT max(id) AS max_id FROM positions_unpartitioned) m) s;
SELECT setval(pg_get_serial_sequence('trades', 'id'), s.last_value, s.is_called)
  FROM (SELECT greatest(q.last_value, coalesce(m.max_id, 0)) AS last_value, q.is_called OR m.max_id IS NOT NULL AS is_called
          FROM trades_unpartitioned_id_seq q, (SELECT max(id) AS max_id FROM trades_unpartitioned) m) s;

--------------------------------------------------------------------------------
-- 4. ADR-107's views, re-pointed at the partitioned tables
--------------------------------------------------------------------------------
-- CREATE OR REPLACE keeps each view (its grants and comment); the options are restated
-- because a replacement sets them anew.
CREATE OR REPLACE VIEW live_trades WITH (security_invoker = true) AS
SELECT
  id, market_id, position_id, strategy_id, model_id, order_id, side, price, quantity, fees,
  trade_source, order_type, execution_time, calculated_probability, market_price, edge_value,
  trade_metadata, created_at, execution_environment
FROM trades
WHERE execution_environment = 'live'
WITH LOCAL CHECK OPTION;

CREATE OR REPLACE VIEW paper_trades WITH (security_invoker = true) AS
SELECT
  id, market_id, position_id, strategy_id, model_id, order_id, side, price, quantity, fees,
  trade_source, order_type, execution_time, calculated_probability, market_price, edge_value,
  trade_metadata, created_at, execution_environment
FROM trades
WHERE execution_environment = 'paper'
WITH LOCAL CHECK OPTION;

CREATE OR REPLACE VIEW backtest_trades WITH (security_invoker = true) AS
SELECT
  id, market_id, position_id, strategy_id, model_id, order_id, side, price, quantity, fees,
  trade_source, order_type, execution_time, calculated_probability, market_price, edge_value,
  trade_metadata, created_at, execution_environment
FROM trades
WHERE execution_environment = 'backtest'
WITH LOCAL CHECK OPTION;

CREATE OR REPLACE VIEW training_data_trades WITH (security_invoker = true) AS
SELECT
  id, market_id, position_id, strategy_id, model_id, order_id, side, price, quantity, fees,
  trade_source, order_type, execution_time, calculated_probability, market_price, edge_value,
  trade_metadata, created_at, execution_environment
FROM trades
WHERE execution_environment IN ('paper', 'backtest')
WITH LOCAL CHECK OPTION;

CREATE OR REPLACE VIEW live_positions WITH (security_invoker = true) AS
SELECT
  id, position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment
FROM positions
WHERE execution_environment = 'live'
WITH LOCAL CHECK OPTION;

CREATE OR REPLACE VIEW paper_positions WITH (security_invoker = true) AS
SELECT
  id, position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment
FROM positions
WHERE execution_environment = 'paper'
WITH LOCAL CHECK OPTION;

CREATE OR REPLACE VIEW backtest_positions WITH (security_invoker = true) AS
SELECT
  id, position_key, market_id, strategy_id, model_id, side, entry_price, quantity, current_price,
  fees, status, unrealized_pnl, realized_pnl, trailing_stop_state, target_price, stop_loss_price,
  entry_time, exit_time, exit_price, exit_reason, calculated_probability, edge_at_entry,
  market_price_at_entry, row_current_ind, row_start_ts, row_end_ts, created_at, execution_environment
FROM positions
WHERE execution_environment = 'backtest'
WITH LOCAL CHECK OPTION;

--------------------------------------------------------------------------------
-- 5. The old tables go (with their indexes, triggers, policies and grants)
--------------------------------------------------------------------------------
DROP TABLE trades_unpartitioned;
DROP TABLE positions_unpartitioned;

--------------------------------------------------------------------------------
-- 6. Keys and indexes (declared on the parents, so on every partition)
--------------------------------------------------------------------------------
ALTER TABLE positions ADD CONSTRAINT positions_pkey PRIMARY KEY (id, execution_environment);
COMMENT ON CONSTRAINT positions_pkey ON positions IS
  'A position version is (id, execution_environment): a partitioned table''s primary key includes its partition key. ids come from one identity sequence, and every reference (trades_position_same_environment_fkey) and lookup names the environment too.';
ALTER TABLE trades ADD CONSTRAINT trades_pkey PRIMARY KEY (id, execution_environment);
COMMENT ON CONSTRAINT trades_pkey ON trades IS
  'A trade is (id, execution_environment): a partitioned table''s primary key includes its partition key. ids come from one identity sequence; lookups by id name the environment too.';

ALTER TABLE positions ADD CONSTRAINT positions_strategy_id_fkey FOREIGN KEY (strategy_id) REFERENCES strategies (strategy_id);
ALTER TABLE positions ADD CONSTRAINT positions_model_id_fkey FOREIGN KEY (model_id) REFERENCES probability_models (model_id);
ALTER TABLE trades ADD CONSTRAINT trades_strategy_id_fkey FOREIGN KEY (strategy_id) REFERENCES strategies (strategy_id);
ALTER TABLE trades ADD CONSTRAINT trades_model_id_fkey FOREIGN KEY (model_id) REFERENCES probability_models (model_id);

-- [environment-cross-reference], per partition pair (see the header for why not on the parents).
ALTER TABLE trades_live ADD CONSTRAINT trades_position_same_environment_fkey
  FOREIGN KEY (position_id, execution_environment) REFERENCES positions_live (id, execution_environment);
ALTER TABLE trades_paper ADD CONSTRAINT trades_position_same_environment_fkey
  FOREIGN KEY (position_id, execution_environment) REFERENCES positions_paper (id, execution_environment);
ALTER TABLE trades_backtest ADD CONSTRAINT trades_position_same_environment_fkey
  FOREIGN KEY (position_id, execution_environment) REFERENCES positions_backtest (id, execution_environment);
COMMENT ON CONSTRAINT trades_position_same_environment_fkey ON trades_live IS
  '[environment-cross-reference] A live trade references only a live position version (MATCH SIMPLE: no check when position_id is NULL). Declared per partition pair so that the backtest partitions can be truncated together.';
COMMENT ON CONSTRAINT trades_position_same_environment_fkey ON trades_paper IS
  '[environment-cross-reference] A paper trade references only a paper position version (MATCH SIMPLE: no check when position_id is NULL). Declared per partition pair so that the backtest partitions can be truncated together.';
COMMENT ON CONSTRAINT trades_position_same_environment_fkey ON trades_backtest IS
  '[environment-cross-reference] A backtest trade references only a backtest position version (MATCH SIMPLE: no check when position_id is NULL). Declared per partition pair so that purge_backtest_data() can truncate both backtest partitions.';

CREATE UNIQUE INDEX positions_current_position_key_key ON positions (position_key, execution_environment) WHERE row_current_ind;
COMMENT ON INDEX positions_current_position_key_key IS
  'SCD-2: at most one current row per position_key (the environment is part of the key because a partitioned table''s unique index must include the partition key; positions_guard_insert keeps every version of a position_key in one environment); also serves "get one position".';
CREATE INDEX positions_position_key_history_idx ON positions (position_key, row_start_ts DESC);
COMMENT ON INDEX positions_position_key_history_idx IS 'History of one position, newest first.';
CREATE INDEX positions_current_status_idx ON positions (status) WHERE row_current_ind;
COMMENT ON INDEX positions_current_status_idx IS 'Current positions by status (e.g. open positions).';
CREATE INDEX positions_current_market_id_idx ON positions (market_id) WHERE row_current_ind;
COMMENT ON INDEX positions_current_market_id_idx IS 'Current positions in one market.';
CREATE INDEX idx_positions_environment ON positions (execution_environment);
COMMENT ON INDEX idx_positions_environment IS 'ADR-107: positions by execution environment.';
CREATE INDEX idx_positions_current_environment_status ON positions (execution_environment, status) WHERE row_current_ind;
COMMENT ON INDEX idx_positions_current_environment_status IS
  'Current positions of one environment by status, e.g. open positions the sell logic may act on.';

CREATE INDEX trades_market_id_idx ON trades (market_id);
CREATE INDEX trades_strategy_id_idx ON trades (strategy_id);
CREATE INDEX trades_model_id_idx ON trades (model_id);
CREATE INDEX trades_position_id_idx ON trades (position_id);
CREATE INDEX trades_order_id_idx ON trades (order_id);
CREATE INDEX trades_execution_time_idx ON trades (execution_time DESC);
COMMENT ON INDEX trades_execution_time_idx IS 'Recent trades, newest first.';
CREATE INDEX idx_trades_environment ON trades (execution_environment);
COMMENT ON INDEX idx_trades_environment IS 'ADR-107: trades by execution environment.';
CREATE INDEX idx_trades_environment_execution_time ON trades (execution_environment, execution_time DESC, id DESC);
COMMENT ON INDEX idx_trades_environment_execution_time IS
  'Recent trades of one environment, newest first (ORDER BY execution_time DESC, id DESC; id breaks ties and supports keyset pagination).';

--------------------------------------------------------------------------------
-- 7. The guards of 000003-000005 (row triggers on the parents are cloned onto each partition)
--------------------------------------------------------------------------------
-- trades_guard_insert looked the position up by id alone; the id is now unique only together
-- with the environment, so it looks for the trade's own environment first.
CREATE OR REPLACE FUNCTION trades_guard_insert() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
  referenced execution_environment;
BEGIN
  IF NEW.position_id IS NOT NULL
     AND NOT EXISTS (SELECT FROM public.positions p
                      WHERE p.id = NEW.position_id AND p.execution_environment = NEW.execution_environment) THEN
    -- Runs with the caller's rights: under row-level security a position of another
    -- environment is invisible here, and the composite foreign key refuses it instead.
    SELECT p.execution_environment INTO referenced FROM public.positions p WHERE p.id = NEW.position_id LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION '[environment-cross-reference] trades.position_id = % is a % position; a % trade may reference only a % position',
        NEW.position_id, referenced, NEW.execution_environment, NEW.execution_environment
        USING ERRCODE = 'P0001', TABLE = 'trades', COLUMN = 'position_id',
              HINT = 'Reference the position of the trade''s own environment, or record the trade in the position''s environment.';
    END IF;
  END IF;
  RETURN NEW;
END;
$$;

-- A row trigger cloned onto a partition runs with the partition as its table (TG_RELID,
-- TG_TABLE_NAME = trades_live). These two name the partitioned table in their messages, and
-- the role check asks whether row-level security is active on it (the table whose policies
-- apply), not on the partition.
CREATE OR REPLACE FUNCTION require_execution_environment() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
  table_name text;
BEGIN
  IF NEW.execution_environment IS NULL THEN
    table_name := pg_partition_root(TG_RELID)::regclass::text;
    RAISE EXCEPTION '[environment-required] %.execution_environment is required (got NULL): every row names where it executed',
      table_name
      USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'execution_environment',
            HINT = 'Pass execution_environment explicitly (live, paper or backtest). There is no default: a ''live'' default is how simulated positions became real-money ones (precog bug #662); a new SCD version copies it forward from the current version.';
  END IF;
  RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION enforce_environment_role() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
  table_name text;
BEGIN
  IF row_security_active(pg_partition_root(TG_RELID))
     AND NOT pg_has_role(current_user, 'precog_' || NEW.execution_environment::text, 'USAGE') THEN
    table_name := pg_partition_root(TG_RELID)::regclass::text;
    RAISE EXCEPTION '[environment-role] role % may not write %.execution_environment = % rows',
      current_user, table_name, NEW.execution_environment
      USING ERRCODE = '42501', TABLE = table_name, COLUMN = 'execution_environment',
            HINT = format('Write %s rows through a connection with the role precog_%s; a role never writes another environment''s rows.',
                          NEW.execution_environment, NEW.execution_environment);
  END IF;
  RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION refuse_truncate() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
  table_name text := pg_partition_root(TG_RELID)::regclass::text;
BEGIN
  RAISE EXCEPTION '[live-history-kept] TRUNCATE of % is refused: it would delete live or paper history', TG_TABLE_NAME
    USING ERRCODE = 'P0001', TABLE = table_name,
          HINT = 'Remove backtest rows with purge_backtest_data(); live rows are never deleted.';
END;
$$;
COMMENT ON FUNCTION refuse_truncate() IS
  'BEFORE TRUNCATE on trades and positions and on their live and paper partitions: TRUNCATE bypasses row triggers, so it is refused outright ([live-history-kept]). Only the backtest partitions may be truncated (purge_backtest_data()).';

CREATE TRIGGER positions_environment_required BEFORE INSERT ON positions
  FOR EACH ROW EXECUTE FUNCTION require_execution_environment();
CREATE TRIGGER positions_guard_insert BEFORE INSERT ON positions
  FOR EACH ROW EXECUTE FUNCTION positions_guard_insert();
CREATE TRIGGER positions_guard_update BEFORE UPDATE ON positions
  FOR EACH ROW EXECUTE FUNCTION positions_guard_update();
CREATE TRIGGER positions_guard_delete BEFORE DELETE ON positions
  FOR EACH ROW EXECUTE FUNCTION positions_guard_delete();
CREATE TRIGGER positions_role_environment BEFORE INSERT OR UPDATE ON positions
  FOR EACH ROW EXECUTE FUNCTION enforce_environment_role();
CREATE TRIGGER positions_refuse_truncate BEFORE TRUNCATE ON positions
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER positions_refuse_truncate BEFORE TRUNCATE ON positions_live
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER positions_refuse_truncate BEFORE TRUNCATE ON positions_paper
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();

CREATE TRIGGER trades_environment_required BEFORE INSERT ON trades
  FOR EACH ROW EXECUTE FUNCTION require_execution_environment();
CREATE TRIGGER trades_guard_insert BEFORE INSERT ON trades
  FOR EACH ROW EXECUTE FUNCTION trades_guard_insert();
CREATE TRIGGER trades_guard_update BEFORE UPDATE ON trades
  FOR EACH ROW EXECUTE FUNCTION trades_guard_update();
CREATE TRIGGER trades_guard_delete BEFORE DELETE ON trades
  FOR EACH ROW EXECUTE FUNCTION trades_guard_delete();
CREATE TRIGGER trades_role_environment BEFORE INSERT OR UPDATE ON trades
  FOR EACH ROW EXECUTE FUNCTION enforce_environment_role();
CREATE TRIGGER trades_refuse_truncate BEFORE TRUNCATE ON trades
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER trades_refuse_truncate BEFORE TRUNCATE ON trades_live
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();
CREATE TRIGGER trades_refuse_truncate BEFORE TRUNCATE ON trades_paper
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();

--------------------------------------------------------------------------------
-- 8. The purge: two TRUNCATEs
--------------------------------------------------------------------------------
-- Same name, result columns, SECURITY DEFINER and grants (CREATE OR REPLACE keeps them). The
-- counts are taken before the TRUNCATE (an index-only count; TRUNCATE reports none).
-- TRUNCATE takes ACCESS EXCLUSIVE locks on the two backtest partitions only: live and paper
-- reads and writes go on (a query that does not prune to one environment waits for it).
CREATE OR REPLACE FUNCTION purge_backtest_data(OUT trades_deleted bigint, OUT positions_deleted bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
BEGIN
  LOCK TABLE public.trades_backtest, public.positions_backtest IN ACCESS EXCLUSIVE MODE;
  SELECT count(*) INTO trades_deleted FROM public.trades_backtest;
  SELECT count(*) INTO positions_deleted FROM public.positions_backtest;
  TRUNCATE public.trades_backtest, public.positions_backtest;
END;
$$;
COMMENT ON FUNCTION purge_backtest_data() IS
  'Empties the backtest partitions (TRUNCATE trades_backtest, positions_backtest: constant time, no row triggers), and nothing else; returns how many trades and position versions it removed. The deliberate way to clear backtest runs (live rows are never deleted, paper rows are kept as training data). Executable by the owner and precog_backtest.';

--------------------------------------------------------------------------------
-- 9. Row-level security, policies and grants: on the parents only
--------------------------------------------------------------------------------
ALTER TABLE trades ENABLE ROW LEVEL SECURITY;
ALTER TABLE positions ENABLE ROW LEVEL SECURITY;

CREATE POLICY trades_live ON trades TO precog_live
  USING (execution_environment = 'live') WITH CHECK (execution_environment = 'live');
CREATE POLICY trades_paper ON trades TO precog_paper
  USING (execution_environment = 'paper') WITH CHECK (execution_environment = 'paper');
CREATE POLICY trades_backtest ON trades TO precog_backtest
  USING (execution_environment = 'backtest') WITH CHECK (execution_environment = 'backtest');
CREATE POLICY trades_analyst_read ON trades FOR SELECT TO precog_analyst USING (true);

CREATE POLICY positions_live ON positions TO precog_live
  USING (execution_environment = 'live') WITH CHECK (execution_environment = 'live');
CREATE POLICY positions_paper ON positions TO precog_paper
  USING (execution_environment = 'paper') WITH CHECK (execution_environment = 'paper');
CREATE POLICY positions_backtest ON positions TO precog_backtest
  USING (execution_environment = 'backtest') WITH CHECK (execution_environment = 'backtest');
CREATE POLICY positions_analyst_read ON positions FOR SELECT TO precog_analyst USING (true);

COMMENT ON POLICY trades_live ON trades IS 'precog_live reads and writes live trades only.';
COMMENT ON POLICY trades_paper ON trades IS 'precog_paper reads and writes paper trades only.';
COMMENT ON POLICY trades_backtest ON trades IS 'precog_backtest reads and writes backtest trades only.';
COMMENT ON POLICY trades_analyst_read ON trades IS 'precog_analyst reads every trade (cross-environment analysis), writes none.';
COMMENT ON POLICY positions_live ON positions IS 'precog_live reads and writes live positions only.';
COMMENT ON POLICY positions_paper ON positions IS 'precog_paper reads and writes paper positions only.';
COMMENT ON POLICY positions_backtest ON positions IS 'precog_backtest reads and writes backtest positions only.';
COMMENT ON POLICY positions_analyst_read ON positions IS 'precog_analyst reads every position version (cross-environment analysis), writes none.';

GRANT SELECT, INSERT ON trades TO precog_live, precog_paper, precog_backtest;
GRANT SELECT, INSERT, UPDATE ON positions TO precog_live, precog_paper, precog_backtest;
GRANT SELECT ON trades, positions TO precog_analyst;

-- Partitions: no grant to anybody but the owner, and row-level security without a policy,
-- so that a direct read of a partition shows nothing even after a mistaken GRANT. (Queries
-- through the parents check the parents' privileges and policies only.)
ALTER TABLE trades_live ENABLE ROW LEVEL SECURITY;
ALTER TABLE trades_paper ENABLE ROW LEVEL SECURITY;
ALTER TABLE trades_backtest ENABLE ROW LEVEL SECURITY;
ALTER TABLE trades_environment_missing ENABLE ROW LEVEL SECURITY;
ALTER TABLE positions_live ENABLE ROW LEVEL SECURITY;
ALTER TABLE positions_paper ENABLE ROW LEVEL SECURITY;
ALTER TABLE positions_backtest ENABLE ROW LEVEL SECURITY;
ALTER TABLE positions_environment_missing ENABLE ROW LEVEL SECURITY;

--------------------------------------------------------------------------------
-- 10. Comments
--------------------------------------------------------------------------------
COMMENT ON TABLE trades IS
  'Fills, as append-only facts: a row is never updated (trigger trades_guard_update) and a live row is never deleted (trades_guard_delete); corrections are new rows. Paper and backtest rows may be deleted; purge_backtest_data() is the deliberate way. LIST-partitioned by execution_environment (trades_live, trades_paper, trades_backtest); use the table, never a partition.';
COMMENT ON TABLE positions IS
  'Positions held in a market. SCD Type 2 keyed by position_key: a price update, trailing-stop change or close closes the current row and inserts a new current row that copies every unchanged column forward. LIST-partitioned by execution_environment (positions_live, positions_paper, positions_backtest); use the table, never a partition.';
COMMENT ON TABLE trades_live IS 'Partition of trades: live trades. Read and written through trades only (no grants; row-level security without policies).';
COMMENT ON TABLE trades_paper IS 'Partition of trades: paper trades. Read and written through trades only (no grants; row-level security without policies).';
COMMENT ON TABLE trades_backtest IS 'Partition of trades: backtest trades, emptied by purge_backtest_data(). Read and written through trades only (no grants; row-level security without policies).';
COMMENT ON TABLE trades_environment_missing IS 'Partition of trades for a NULL execution_environment: always empty (NOT NULL). It exists so that such an insert reaches trigger trades_environment_required and is refused with [environment-required].';
COMMENT ON TABLE positions_live IS 'Partition of positions: live position versions. Read and written through positions only (no grants; row-level security without policies).';
COMMENT ON TABLE positions_paper IS 'Partition of positions: paper position versions. Read and written through positions only (no grants; row-level security without policies).';
COMMENT ON TABLE positions_backtest IS 'Partition of positions: backtest position versions, emptied by purge_backtest_data(). Read and written through positions only (no grants; row-level security without policies).';
COMMENT ON TABLE positions_environment_missing IS 'Partition of positions for a NULL execution_environment: always empty (NOT NULL). It exists so that such an insert reaches trigger positions_environment_required and is refused with [environment-required].';
