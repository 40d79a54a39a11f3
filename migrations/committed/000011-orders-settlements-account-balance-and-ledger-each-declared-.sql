--! Previous: sha1:b7bbe80065b135c05848e1764d058a49a6df4733
--! Hash: sha1:9dac7561743e4dd32e06b57cc8438e4e7fe265e8
--! Message: Orders, settlements, account balance and ledger, each declared with precog_environment_table

-- 000011: Precog's next environment-tagged tables, each given every guarantee by one declaration:
--
--   table            kind         what it holds
--   ---------------  -----------  -------------------------------------------------------------
--   orders           mutable      orders placed on Kalshi (demo API for paper, none for backtest):
--                                 status, filled quantity and average fill price change
--   settlements      append_only  a settled position's payout: one per position
--   account_balance  versioned    the account's balance per platform, SCD Type 2: one current
--                                 version per platform and environment
--   account_ledger   append_only  every movement of money, each referencing the order, trade or
--                                 settlement of its own environment that caused it
--
-- Fills are trades (trades.placed_order_id references the order filled). Money is NUMERIC.
-- Runs inside the transaction graphile-migrate opens (no BEGIN/COMMIT here); safe to run again.

DO $$
BEGIN
  IF to_regtype('public.order_status') IS NULL THEN
    CREATE TYPE order_status AS ENUM ('open', 'partially_filled', 'filled', 'cancelled');
  END IF;
  IF to_regtype('public.ledger_entry_type') IS NULL THEN
    CREATE TYPE ledger_entry_type AS ENUM ('deposit', 'withdrawal', 'trade', 'fee', 'settlement', 'adjustment');
  END IF;
END
$$;
COMMENT ON TYPE order_status IS 'Where an order stands: open (resting, nothing filled), partially_filled, filled, cancelled (the rest of it).';
COMMENT ON TYPE ledger_entry_type IS 'What moved money in the account: a deposit or withdrawal, a trade''s cost or proceeds, a fee, a settlement payout, or a manual adjustment.';

--------------------------------------------------------------------------------
-- orders (mutable)
--------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS orders (
  id                     integer GENERATED ALWAYS AS IDENTITY,
  platform_id            text NOT NULL REFERENCES platforms (platform_id),
  external_order_id      text NULL
    CONSTRAINT orders_external_order_id_length CHECK (char_length(external_order_id) <= 200),
  market_id              text NOT NULL
    CONSTRAINT orders_market_id_format CHECK (market_id ~ '^MKT-.+$' AND char_length(market_id) <= 200),
  position_id            integer NULL,
  strategy_id            integer NULL REFERENCES strategies (strategy_id),
  model_id               integer NULL REFERENCES probability_models (model_id),
  side                   trade_side NOT NULL,
  order_type             order_type NOT NULL,
  limit_price            numeric(10,4) NULL CONSTRAINT orders_limit_price_range CHECK (limit_price >= 0 AND limit_price <= 1),
  quantity               integer NOT NULL CONSTRAINT orders_quantity_positive CHECK (quantity > 0),
  filled_quantity        integer NOT NULL DEFAULT 0
    CONSTRAINT orders_filled_quantity_range CHECK (filled_quantity >= 0 AND filled_quantity <= quantity),
  average_fill_price     numeric(10,4) NULL CONSTRAINT orders_average_fill_price_range CHECK (average_fill_price >= 0 AND average_fill_price <= 1),
  status                 order_status NOT NULL DEFAULT 'open',
  placed_at              timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  execution_environment  execution_environment NOT NULL,
  PRIMARY KEY (id, execution_environment),
  CONSTRAINT orders_limit_price_given CHECK ((order_type IN ('limit', 'stop_limit')) = (limit_price IS NOT NULL)),
  CONSTRAINT orders_status_matches_fills CHECK (
    (status = 'open' AND filled_quantity = 0)
    OR (status = 'partially_filled' AND filled_quantity > 0 AND filled_quantity < quantity)
    OR (status = 'filled' AND filled_quantity = quantity)
    OR status = 'cancelled'),
  CONSTRAINT orders_fill_price_iff_filled CHECK ((filled_quantity > 0) = (average_fill_price IS NOT NULL)),
  FOREIGN KEY (position_id, execution_environment) REFERENCES positions (id, execution_environment)
) PARTITION BY LIST (execution_environment);
COMMENT ON TABLE orders IS
  'Orders placed (live: Kalshi''s live API; paper: the demo API; backtest: simulated). Mutable state: only status, filled_quantity, average_fill_price and updated_at change (precog_environment_table(''orders'', kind => ''mutable'')); each fill is a trade with placed_order_id = this order.';
COMMENT ON COLUMN orders.external_order_id IS 'Kalshi''s order id, once the API has accepted the order (NULL for backtests).';
COMMENT ON COLUMN orders.position_id IS 'The position version (positions.id) the order opens or closes, of the same environment.';
COMMENT ON COLUMN orders.limit_price IS 'Dollars per contract in [0, 1]; set exactly for limit and stop-limit orders.';
COMMENT ON COLUMN orders.filled_quantity IS 'Contracts filled so far (the sum of the quantities of its trades).';
COMMENT ON COLUMN orders.average_fill_price IS 'Quantity-weighted mean price of its fills; NULL until the first fill.';
COMMENT ON COLUMN orders.execution_environment IS 'ADR-107: where the order was placed. No default; never changes.';
CREATE INDEX IF NOT EXISTS orders_open_idx ON orders (execution_environment, placed_at) WHERE status IN ('open', 'partially_filled');
COMMENT ON INDEX orders_open_idx IS 'Open orders of one environment, oldest first.';

SELECT precog_environment_table('orders', kind => 'mutable',
                                mutable_columns => ARRAY['status', 'filled_quantity', 'average_fill_price', 'updated_at']);

-- A fill is a trade of the order's environment.
ALTER TABLE trades ADD COLUMN IF NOT EXISTS placed_order_id integer NULL;
COMMENT ON COLUMN trades.placed_order_id IS 'The order (orders.id, same environment) this trade filled; NULL for fills recorded without one. Not order_id: that is Kalshi''s text id.';
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM precog_environment_references WHERE table_name = 'trades' AND columns = ARRAY['placed_order_id']) THEN
    ALTER TABLE trades ADD CONSTRAINT trades_placed_order_id_fkey
      FOREIGN KEY (placed_order_id, execution_environment) REFERENCES orders (id, execution_environment);
  END IF;
END
$$;
SELECT precog_environment_table('trades', kind => 'append_only');

--------------------------------------------------------------------------------
-- settlements (append_only)
--------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS settlements (
  id                     integer GENERATED ALWAYS AS IDENTITY,
  position_id            integer NOT NULL,
  position_key           text NOT NULL CONSTRAINT settlements_position_key_format CHECK (position_key ~ '^POS-[0-9]+$'),
  market_id              text NOT NULL
    CONSTRAINT settlements_market_id_format CHECK (market_id ~ '^MKT-.+$' AND char_length(market_id) <= 200),
  side                   position_side NOT NULL,
  quantity               integer NOT NULL CONSTRAINT settlements_quantity_positive CHECK (quantity > 0),
  settlement_value       numeric(10,4) NOT NULL
    CONSTRAINT settlements_settlement_value_range CHECK (settlement_value >= 0 AND settlement_value <= 1),
  payout                 numeric(14,4) NOT NULL CONSTRAINT settlements_payout_nonnegative CHECK (payout >= 0),
  fees                   numeric(10,4) NOT NULL DEFAULT 0 CONSTRAINT settlements_fees_nonnegative CHECK (fees >= 0),
  realized_pnl           numeric(14,4) NOT NULL,
  settled_at             timestamptz NOT NULL DEFAULT now(),
  execution_environment  execution_environment NOT NULL,
  PRIMARY KEY (id, execution_environment),
  FOREIGN KEY (position_id, execution_environment) REFERENCES positions (id, execution_environment)
) PARTITION BY LIST (execution_environment);
COMMENT ON TABLE settlements IS
  'A position settled by its market: what the held contracts paid out. Append-only facts (precog_environment_table(''settlements'', kind => ''append_only'')); one per position and environment.';
COMMENT ON COLUMN settlements.position_id IS 'The position version (positions.id) that recorded the settlement, of the same environment.';
COMMENT ON COLUMN settlements.settlement_value IS 'What one YES contract paid, in dollars: 1 when the market resolved YES, 0 when NO (a NO contract pays 1 - settlement_value).';
COMMENT ON COLUMN settlements.payout IS 'Dollars paid out for the position: quantity times what each held contract paid.';
COMMENT ON COLUMN settlements.realized_pnl IS 'payout - entry cost - all fees, in dollars.';
CREATE UNIQUE INDEX IF NOT EXISTS settlements_position_key_key ON settlements (position_key, execution_environment);
COMMENT ON INDEX settlements_position_key_key IS 'A position settles once.';

SELECT precog_environment_table('settlements', kind => 'append_only');

--------------------------------------------------------------------------------
-- account_balance (versioned)
--------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS account_balance (
  id                     integer GENERATED ALWAYS AS IDENTITY,
  platform_id            text NOT NULL REFERENCES platforms (platform_id),
  balance                numeric(14,4) NOT NULL CONSTRAINT account_balance_balance_nonnegative CHECK (balance >= 0),
  row_current_ind        boolean NOT NULL DEFAULT true,
  row_start_ts           timestamptz NOT NULL DEFAULT now(),
  row_end_ts             timestamptz NULL,
  created_at             timestamptz NOT NULL DEFAULT now(),
  execution_environment  execution_environment NOT NULL,
  PRIMARY KEY (id, execution_environment),
  CONSTRAINT account_balance_scd_current_iff_open_ended CHECK (row_current_ind = (row_end_ts IS NULL)),
  CONSTRAINT account_balance_scd_end_after_start CHECK (row_end_ts IS NULL OR row_end_ts >= row_start_ts)
) PARTITION BY LIST (execution_environment);
COMMENT ON TABLE account_balance IS
  'The account''s cash balance per platform and environment (live: real money; paper: Kalshi demo funds; backtest: simulated), SCD Type 2: each change closes the current version and inserts a new one (precog_environment_table(''account_balance'', kind => ''versioned'', business_key => ARRAY[''platform_id'', ''execution_environment''])).';
COMMENT ON COLUMN account_balance.balance IS 'Dollars available, as of row_start_ts.';

SELECT precog_environment_table('account_balance', kind => 'versioned', business_key => ARRAY['platform_id', 'execution_environment']);

--------------------------------------------------------------------------------
-- account_ledger (append_only)
--------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS account_ledger (
  id                     bigint GENERATED ALWAYS AS IDENTITY,
  platform_id            text NOT NULL REFERENCES platforms (platform_id),
  entry_type             ledger_entry_type NOT NULL,
  amount                 numeric(14,4) NOT NULL CONSTRAINT account_ledger_amount_nonzero CHECK (amount <> 0),
  order_id               integer NULL,
  trade_id               integer NULL,
  settlement_id          integer NULL,
  description            text NULL CONSTRAINT account_ledger_description_length CHECK (char_length(description) <= 2000),
  recorded_at            timestamptz NOT NULL DEFAULT now(),
  execution_environment  execution_environment NOT NULL,
  PRIMARY KEY (id, execution_environment),
  CONSTRAINT account_ledger_settlement_is_referenced CHECK ((entry_type = 'settlement') = (settlement_id IS NOT NULL)),
  FOREIGN KEY (order_id, execution_environment) REFERENCES orders (id, execution_environment),
  FOREIGN KEY (trade_id, execution_environment) REFERENCES trades (id, execution_environment),
  FOREIGN KEY (settlement_id, execution_environment) REFERENCES settlements (id, execution_environment)
) PARTITION BY LIST (execution_environment);
COMMENT ON TABLE account_ledger IS
  'Every movement of money, signed (credits positive, debits negative), append-only (precog_environment_table(''account_ledger'', kind => ''append_only'')). Each entry references the order, trade or settlement of its own environment that caused it.';
COMMENT ON COLUMN account_ledger.amount IS 'Dollars, signed: positive credits the account, negative debits it.';
COMMENT ON COLUMN account_ledger.order_id IS 'The order (orders.id, same environment) the entry belongs to, if any. An id of precog''s orders table, not Kalshi''s order id.';
COMMENT ON COLUMN account_ledger.trade_id IS 'The trade (trades.id, same environment) the entry belongs to, if any.';
COMMENT ON COLUMN account_ledger.settlement_id IS 'The settlement (settlements.id, same environment) of a settlement entry.';
CREATE INDEX IF NOT EXISTS account_ledger_platform_recorded_idx ON account_ledger (platform_id, execution_environment, recorded_at, id);
COMMENT ON INDEX account_ledger_platform_recorded_idx IS 'The ledger of one account and environment in time order (ledger for a period, running balance).';

SELECT precog_environment_table('account_ledger', kind => 'append_only');
