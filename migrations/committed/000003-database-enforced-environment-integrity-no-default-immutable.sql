--! Previous: sha1:b40361951baf712b2e43d57c2dcc0d33014c5544
--! Hash: sha1:e50fc84a66e30499ed43393f3d5cff1163f19381
--! Message: Database-enforced environment integrity: no default, immutable environment, same-environment references, append-only history

-- 000003: the database itself keeps the execution-environment rules (issue 5).
--
-- ADR-107 tagged trades and positions with execution_environment but left the
-- rules to the application. Here the database enforces them for every client
-- (application, migrations, psql sessions, analysts), the table owner included:
--
--   rule name (in every message)   what is refused
--   -----------------------------  --------------------------------------------------
--   [environment-required]         (no trigger: NOT NULL) an insert that does not name
--                                  its environment; the DEFAULT 'live' is dropped
--   [environment-immutable]        an UPDATE that changes execution_environment, and a
--                                  new SCD version of a position_key whose earlier
--                                  versions have another environment
--   [environment-cross-reference]  a trade referencing a position of another environment
--                                  (backstop: composite FK trades_position_same_environment_fkey)
--   [trades-append-only]           any UPDATE of a trade
--   [live-history-kept]            DELETE of a live trade or live position version, and
--                                  TRUNCATE of trades or positions
--   [position-history-immutable]   UPDATE of a superseded position version
--   [position-version-immutable]   UPDATE of a current position version other than
--                                  closing it (row_current_ind -> false, row_end_ts set)
--
-- Every refusal raises SQLSTATE P0001 with the rule name in brackets at the start
-- of the message, the table, column and offending value, and a HINT saying what to
-- do instead. The only deliberate way to remove environment-tagged rows in bulk is
-- purge_backtest_data(), which removes backtest rows and nothing else.
--
-- Runs inside the transaction graphile-migrate opens (no BEGIN/COMMIT here).

--------------------------------------------------------------------------------
-- 1. No silent default
--------------------------------------------------------------------------------
-- Precog bug #662: updating a position's price wrote a new SCD version without
-- naming execution_environment, and the column DEFAULT 'live' silently turned
-- paper and backtest positions into live ones; real-money reports then counted
-- simulated P&L. ADR-107's migration needed the default only to backfill rows
-- written before it (all of them are 'live' by now). From here on an insert that
-- does not name its environment fails with a NOT NULL violation (23502) instead
-- of guessing.
ALTER TABLE trades ALTER COLUMN execution_environment DROP DEFAULT;
ALTER TABLE positions ALTER COLUMN execution_environment DROP DEFAULT;

COMMENT ON COLUMN trades.execution_environment IS
  'ADR-107: WHERE the trade executed (live/paper/backtest). No default (precog bug #662: a ''live'' default turned simulated rows into real-money ones): every insert names it, or fails. Never changes after insert (trigger trades_guard_update).';
COMMENT ON COLUMN positions.execution_environment IS
  'ADR-107: WHERE the position is held (live/paper/backtest). No default (precog bug #662: an SCD copy-forward that forgot this column became ''live''): every insert names it, or fails. Never changes: not by UPDATE, and every SCD version of a position_key carries the environment of the versions before it (triggers positions_guard_update, positions_guard_insert).';

--------------------------------------------------------------------------------
-- 2. No reference across environments
--------------------------------------------------------------------------------
-- trades.position_id points at one position VERSION row (positions.id). The
-- composite key makes the reference carry the environment too, so a paper trade
-- can only point at a paper position version. RI checks bypass row-level
-- security, so this holds whoever inserts.
ALTER TABLE positions
  ADD CONSTRAINT positions_id_environment_key UNIQUE (id, execution_environment);
COMMENT ON CONSTRAINT positions_id_environment_key ON positions IS
  'Target of trades_position_same_environment_fkey: (id, execution_environment) of a position version.';

ALTER TABLE trades DROP CONSTRAINT trades_position_id_fkey;
ALTER TABLE trades
  ADD CONSTRAINT trades_position_same_environment_fkey
  FOREIGN KEY (position_id, execution_environment)
  REFERENCES positions (id, execution_environment);
COMMENT ON CONSTRAINT trades_position_same_environment_fkey ON trades IS
  '[environment-cross-reference] A trade references only a position version of its own execution environment (MATCH SIMPLE: no check when position_id is NULL).';

--------------------------------------------------------------------------------
-- 3. Trades: append-only; live trades are never deleted
--------------------------------------------------------------------------------
CREATE FUNCTION trades_guard_insert() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
  referenced execution_environment;
BEGIN
  IF NEW.position_id IS NOT NULL THEN
    -- Runs with the caller's rights: under row-level security a position of another
    -- environment is invisible here, and the composite foreign key refuses it instead.
    SELECT p.execution_environment INTO referenced FROM public.positions p WHERE p.id = NEW.position_id;
    IF FOUND AND referenced IS DISTINCT FROM NEW.execution_environment THEN
      RAISE EXCEPTION '[environment-cross-reference] trades.position_id = % is a % position; a % trade may reference only a % position',
        NEW.position_id, referenced, NEW.execution_environment, NEW.execution_environment
        USING ERRCODE = 'P0001', TABLE = 'trades', COLUMN = 'position_id',
              HINT = 'Reference the position of the trade''s own environment, or record the trade in the position''s environment.';
    END IF;
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION trades_guard_insert() IS
  'BEFORE INSERT on trades: refuses a reference to a position of another environment with a readable [environment-cross-reference] message (the composite foreign key is the backstop).';

CREATE FUNCTION trades_guard_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
  IF NEW.execution_environment IS DISTINCT FROM OLD.execution_environment THEN
    RAISE EXCEPTION '[environment-immutable] trades.execution_environment cannot change (% -> %) on trade id %',
      OLD.execution_environment, NEW.execution_environment, OLD.id
      USING ERRCODE = 'P0001', TABLE = 'trades', COLUMN = 'execution_environment',
            HINT = 'A row''s environment is where it executed; record a new trade in the other environment instead.';
  END IF;
  RAISE EXCEPTION '[trades-append-only] trades are append-only: UPDATE of trade id % (%) is refused',
    OLD.id, OLD.execution_environment
    USING ERRCODE = 'P0001', TABLE = 'trades',
          HINT = 'Record a correcting trade (a new row) instead of changing a recorded fill.';
END;
$$;
COMMENT ON FUNCTION trades_guard_update() IS
  'BEFORE UPDATE on trades: trades are append-only facts, no UPDATE at all ([trades-append-only]; [environment-immutable] when the environment would change).';

CREATE FUNCTION trades_guard_delete() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
  IF OLD.execution_environment = 'live' THEN
    RAISE EXCEPTION '[live-history-kept] trades.execution_environment = live: DELETE of live trade id % is refused', OLD.id
      USING ERRCODE = 'P0001', TABLE = 'trades', COLUMN = 'execution_environment',
            HINT = 'Live trades are real-money history and are never deleted; record a correcting trade instead. Backtest data is removed with purge_backtest_data().';
  END IF;
  RETURN OLD;
END;
$$;
COMMENT ON FUNCTION trades_guard_delete() IS
  'BEFORE DELETE on trades: live trades are never deleted ([live-history-kept]); paper and backtest trades may be (see purge_backtest_data()).';

CREATE FUNCTION refuse_truncate() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
  RAISE EXCEPTION '[live-history-kept] TRUNCATE of % is refused: it would delete live history', TG_TABLE_NAME
    USING ERRCODE = 'P0001', TABLE = TG_TABLE_NAME,
          HINT = 'Remove backtest rows with purge_backtest_data(); live rows are never deleted.';
END;
$$;
COMMENT ON FUNCTION refuse_truncate() IS
  'BEFORE TRUNCATE on trades and positions: TRUNCATE bypasses row triggers, so it is refused outright ([live-history-kept]).';

CREATE TRIGGER trades_guard_insert BEFORE INSERT ON trades
  FOR EACH ROW EXECUTE FUNCTION trades_guard_insert();
CREATE TRIGGER trades_guard_update BEFORE UPDATE ON trades
  FOR EACH ROW EXECUTE FUNCTION trades_guard_update();
CREATE TRIGGER trades_guard_delete BEFORE DELETE ON trades
  FOR EACH ROW EXECUTE FUNCTION trades_guard_delete();
CREATE TRIGGER trades_refuse_truncate BEFORE TRUNCATE ON trades
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();

COMMENT ON TABLE trades IS
  'Fills, as append-only facts: a row is never updated (trigger trades_guard_update) and a live row is never deleted (trades_guard_delete); corrections are new rows. Paper and backtest rows may be deleted; purge_backtest_data() is the deliberate way.';

--------------------------------------------------------------------------------
-- 4. Positions: one environment per position_key; superseded versions immutable
--------------------------------------------------------------------------------
-- SECURITY DEFINER: the earlier versions of a position_key must be visible whatever
-- the caller's row-level security lets it see; otherwise a paper session could add
-- a paper version to a (closed) live position it cannot see. The function only
-- reads, its search_path is pinned, and as a trigger function it cannot be called
-- directly.
CREATE FUNCTION positions_guard_insert() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
  earlier execution_environment;
BEGIN
  SELECT p.execution_environment INTO earlier
  FROM public.positions p
  WHERE p.position_key = NEW.position_key
    AND p.execution_environment IS DISTINCT FROM NEW.execution_environment
  LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '[environment-immutable] positions.execution_environment cannot change (% -> %) across versions of %',
      earlier, NEW.execution_environment, NEW.position_key
      USING ERRCODE = 'P0001', TABLE = 'positions', COLUMN = 'execution_environment',
            HINT = 'A new SCD version copies execution_environment forward from the current version; open a new position (new position_key) for another environment.';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION positions_guard_insert() IS
  'BEFORE INSERT on positions: a new SCD version of a position_key carries the environment of the versions before it (precog bug #662). SECURITY DEFINER so that versions hidden from the caller by row-level security still count.';

CREATE FUNCTION positions_guard_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
  IF NEW.execution_environment IS DISTINCT FROM OLD.execution_environment THEN
    RAISE EXCEPTION '[environment-immutable] positions.execution_environment cannot change (% -> %) on % (version id %)',
      OLD.execution_environment, NEW.execution_environment, OLD.position_key, OLD.id
      USING ERRCODE = 'P0001', TABLE = 'positions', COLUMN = 'execution_environment',
            HINT = 'A position stays in the environment it was opened in; open a new position in the other environment instead.';
  END IF;
  IF NOT OLD.row_current_ind THEN
    RAISE EXCEPTION '[position-history-immutable] positions version id % of % (row_current_ind = false, superseded at %) cannot change',
      OLD.id, OLD.position_key, OLD.row_end_ts
      USING ERRCODE = 'P0001', TABLE = 'positions', COLUMN = 'row_current_ind',
            HINT = 'Superseded versions are history. Change the position by closing its current version and inserting a new one.';
  END IF;
  -- A current version may only be closed: row_current_ind -> false and row_end_ts set,
  -- every other column unchanged. Anything else is a new version.
  IF (to_jsonb(NEW) - 'row_current_ind' - 'row_end_ts') IS DISTINCT FROM (to_jsonb(OLD) - 'row_current_ind' - 'row_end_ts')
     OR (NEW.row_current_ind AND NEW.row_end_ts IS DISTINCT FROM OLD.row_end_ts) THEN
    RAISE EXCEPTION '[position-version-immutable] positions version id % of % can only be closed (row_current_ind = false, row_end_ts = now()); changed: %',
      OLD.id, OLD.position_key,
      COALESCE((SELECT string_agg(n.key, ', ' ORDER BY n.key)
         FROM jsonb_each(to_jsonb(NEW)) n JOIN jsonb_each(to_jsonb(OLD)) o USING (key)
        WHERE n.value IS DISTINCT FROM o.value AND n.key NOT IN ('row_current_ind', 'row_end_ts')), 'row_end_ts without closing')
      USING ERRCODE = 'P0001', TABLE = 'positions',
            HINT = 'SCD Type 2: close the current version and insert a new version with the changed columns (copying execution_environment forward).';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION positions_guard_update() IS
  'BEFORE UPDATE on positions: the environment never changes ([environment-immutable]), superseded versions never change ([position-history-immutable]), and a current version can only be closed ([position-version-immutable]).';

CREATE FUNCTION positions_guard_delete() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
  IF OLD.execution_environment = 'live' THEN
    RAISE EXCEPTION '[live-history-kept] positions.execution_environment = live: DELETE of % (version id %) is refused', OLD.position_key, OLD.id
      USING ERRCODE = 'P0001', TABLE = 'positions', COLUMN = 'execution_environment',
            HINT = 'Live positions are real-money history and are never deleted; close the position with a new SCD version instead. Backtest data is removed with purge_backtest_data().';
  END IF;
  RETURN OLD;
END;
$$;
COMMENT ON FUNCTION positions_guard_delete() IS
  'BEFORE DELETE on positions: no version of a live position is ever deleted ([live-history-kept]); paper and backtest versions may be (see purge_backtest_data()).';

CREATE TRIGGER positions_guard_insert BEFORE INSERT ON positions
  FOR EACH ROW EXECUTE FUNCTION positions_guard_insert();
CREATE TRIGGER positions_guard_update BEFORE UPDATE ON positions
  FOR EACH ROW EXECUTE FUNCTION positions_guard_update();
CREATE TRIGGER positions_guard_delete BEFORE DELETE ON positions
  FOR EACH ROW EXECUTE FUNCTION positions_guard_delete();
CREATE TRIGGER positions_refuse_truncate BEFORE TRUNCATE ON positions
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate();

--------------------------------------------------------------------------------
-- 5. The deliberate purge of backtest data
--------------------------------------------------------------------------------
-- SECURITY DEFINER so that it is the one way to delete in bulk: the environment
-- roles (next migration) get no DELETE privilege on trades or positions, only
-- EXECUTE on this function (precog_backtest). The predicate is fixed to
-- 'backtest', the search_path is pinned, and the delete triggers still refuse any
-- live row. Trades go first: they reference the position versions.
CREATE FUNCTION purge_backtest_data(OUT trades_deleted bigint, OUT positions_deleted bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
BEGIN
  DELETE FROM public.trades WHERE execution_environment = 'backtest';
  GET DIAGNOSTICS trades_deleted = ROW_COUNT;
  DELETE FROM public.positions WHERE execution_environment = 'backtest';
  GET DIAGNOSTICS positions_deleted = ROW_COUNT;
END;
$$;
REVOKE ALL ON FUNCTION purge_backtest_data() FROM PUBLIC;
COMMENT ON FUNCTION purge_backtest_data() IS
  'Deletes every backtest trade, then every backtest position version, and nothing else; returns how many of each. The deliberate way to clear backtest runs (live rows are never deleted, paper rows are kept as training data). Executable by the owner and precog_backtest.';
