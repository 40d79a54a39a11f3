--! Previous: sha1:e50fc84a66e30499ed43393f3d5cff1163f19381
--! Hash: sha1:e4c805cb85a85a551d8eddcc3b85fb4ecf2b2299
--! Message: Environment roles and row-level security

-- 000004: one database role per execution environment, plus a read-only analyst,
-- with row-level security on the environment-tagged tables (issue 5, "Roles").
--
--   role             trades / positions                         shared tables
--   ---------------  -----------------------------------------  ---------------------
--   precog_live      read + write only execution_environment    read + write
--                    = 'live' rows
--   precog_paper     ... only 'paper' rows                      read + write
--   precog_backtest  ... only 'backtest' rows; may call          read + write
--                    purge_backtest_data()
--   precog_analyst   read every row, write nothing              read
--
-- The roles are NOLOGIN group roles: an application's login role is granted the
-- one role of its environment (GRANT precog_paper TO precog_app_paper). Membership
-- is what lets a session SET ROLE, so a login role that is a member of
-- precog_paper only cannot switch itself to precog_live or read live rows.
--
-- "Writes" are INSERT on trades and positions and UPDATE on positions (the SCD
-- close of the current version). Nobody but the owner has UPDATE on trades or
-- DELETE on trades or positions: trades are append-only, and backtest data is
-- purged through purge_backtest_data().
--
-- Row-level security is ENABLEd but not FORCEd: the table owner (the role that
-- runs these migrations) is the one trusted role that bypasses it, so that a
-- migration can still backfill or fix rows of every environment. The owner is
-- still bound by the triggers of migration 000003 (no environment change, append-
-- only trades, live history kept). Applications must never connect as the owner.
-- (Superusers bypass row-level security whatever FORCE says.)
--
-- A write the policies would refuse is caught first by a trigger that names the
-- rule: [environment-role] (SQLSTATE 42501). Rows of another environment are
-- invisible to a role: an UPDATE or DELETE aimed at them affects 0 rows.
--
-- Roles are cluster-global while this migration runs in many databases of the
-- same server (the dev database, its shadow, test templates and clones, codegen
-- databases), possibly at the same time: each role is created only if missing,
-- and a concurrent creation by another database's migration is tolerated.
-- Privileges and policies are per database.

--------------------------------------------------------------------------------
-- 1. Roles (cluster-global, created once)
--------------------------------------------------------------------------------
DO $$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['precog_live', 'precog_paper', 'precog_backtest', 'precog_analyst'] LOOP
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS', role_name);
        -- Commented only by the migration that creates it: COMMENT ON ROLE updates a
        -- cluster-wide catalog row, which concurrent migrations must not race on.
        EXECUTE format('COMMENT ON ROLE %I IS %L', role_name, CASE role_name
          WHEN 'precog_live' THEN 'precog-db: reads and writes only live (real-money) trades and positions (row-level security); reads and writes shared tables. Grant to the live application''s login role.'
          WHEN 'precog_paper' THEN 'precog-db: reads and writes only paper (Kalshi demo) trades and positions (row-level security); reads and writes shared tables. Grant to the paper application''s login role.'
          WHEN 'precog_backtest' THEN 'precog-db: reads and writes only backtest trades and positions (row-level security); reads and writes shared tables; may run purge_backtest_data(). Grant to the backtester''s login role.'
          ELSE 'precog-db: reads everything (all environments, shared tables, ADR-107 views); writes nothing.'
        END);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL; -- created meanwhile by the same migration running in another database
      END;
    END IF;
  END LOOP;
END
$$;

--------------------------------------------------------------------------------
-- 2. Privileges (per database)
--------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA public TO precog_live, precog_paper, precog_backtest, precog_analyst;

-- Shared tables: "prices are prices, game states are game states". Markets and game
-- states are written by the live and paper collectors, historical_* by loaders;
-- UPDATE is needed for the SCD close of markets and game_states.
GRANT SELECT ON platforms, teams, strategies, probability_models, markets, game_states,
                historical_games, historical_odds, historical_elo
  TO precog_live, precog_paper, precog_backtest, precog_analyst;
GRANT INSERT, UPDATE ON platforms, teams, strategies, probability_models, markets, game_states,
                        historical_games, historical_odds, historical_elo
  TO precog_live, precog_paper, precog_backtest;

-- Environment-tagged tables: row-level security below decides which rows.
GRANT SELECT, INSERT ON trades TO precog_live, precog_paper, precog_backtest;
GRANT SELECT, INSERT, UPDATE ON positions TO precog_live, precog_paper, precog_backtest;
GRANT SELECT ON trades, positions TO precog_analyst;

-- position_key_seq mints 'POS-{n}'; identity columns need no grant.
GRANT USAGE, SELECT ON SEQUENCE position_key_seq TO precog_live, precog_paper, precog_backtest;

GRANT EXECUTE ON FUNCTION purge_backtest_data() TO precog_backtest;

--------------------------------------------------------------------------------
-- 3. Row-level security
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

-- A readable refusal before the policy's own ("new row violates row-level security
-- policy"): BEFORE ROW triggers run before the WITH CHECK of the policies.
-- row_security_active() is false for the owner and superusers, who are not bound
-- to one environment.
CREATE FUNCTION enforce_environment_role() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
  IF row_security_active(TG_RELID)
     AND NOT pg_has_role(current_user, 'precog_' || NEW.execution_environment::text, 'USAGE') THEN
    RAISE EXCEPTION '[environment-role] role % may not write %.execution_environment = % rows',
      current_user, TG_TABLE_NAME, NEW.execution_environment
      USING ERRCODE = '42501', TABLE = TG_TABLE_NAME, COLUMN = 'execution_environment',
            HINT = format('Write %s rows through a connection with the role precog_%s; a role never writes another environment''s rows.',
                          NEW.execution_environment, NEW.execution_environment);
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION enforce_environment_role() IS
  'BEFORE INSERT OR UPDATE on trades and positions: a role bound by row-level security writes only rows of an environment whose precog_<environment> role it has ([environment-role], SQLSTATE 42501). The policies are the backstop.';

-- Named to fire before the other BEFORE triggers (they fire in name order).
CREATE TRIGGER trades_0_environment_role BEFORE INSERT OR UPDATE ON trades
  FOR EACH ROW EXECUTE FUNCTION enforce_environment_role();
CREATE TRIGGER positions_0_environment_role BEFORE INSERT OR UPDATE ON positions
  FOR EACH ROW EXECUTE FUNCTION enforce_environment_role();

--------------------------------------------------------------------------------
-- 4. ADR-107's views run with the caller's rights
--------------------------------------------------------------------------------
-- A plain view reads its tables with the rights of the view's owner, who bypasses
-- row-level security: a paper session could read live rows through live_trades.
-- security_invoker applies the caller's privileges and policies instead, so each
-- view shows the caller what the caller may see (the analyst: everything).
ALTER VIEW live_trades SET (security_invoker = true);
ALTER VIEW live_positions SET (security_invoker = true);
ALTER VIEW paper_trades SET (security_invoker = true);
ALTER VIEW paper_positions SET (security_invoker = true);
ALTER VIEW backtest_trades SET (security_invoker = true);
ALTER VIEW backtest_positions SET (security_invoker = true);
ALTER VIEW training_data_trades SET (security_invoker = true);

GRANT SELECT ON live_trades, live_positions, paper_trades, paper_positions,
                backtest_trades, backtest_positions, training_data_trades
  TO precog_live, precog_paper, precog_backtest, precog_analyst;
-- Writing through a view of one's own environment (WITH CHECK OPTION keeps it there).
GRANT INSERT ON live_trades, live_positions TO precog_live;
GRANT UPDATE ON live_positions TO precog_live;
GRANT INSERT ON paper_trades, paper_positions TO precog_paper;
GRANT UPDATE ON paper_positions TO precog_paper;
GRANT INSERT ON backtest_trades, backtest_positions TO precog_backtest;
GRANT UPDATE ON backtest_positions TO precog_backtest;
