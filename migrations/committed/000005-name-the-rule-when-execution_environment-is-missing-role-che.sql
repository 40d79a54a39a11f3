--! Previous: sha1:e4c805cb85a85a551d8eddcc3b85fb4ecf2b2299
--! Hash: sha1:517b502f3873f5e717d632af8a1e7063dd7c4dcf
--! Message: Name the rule when execution_environment is missing; role check fires last

-- 000005: name the rule for every refusal of 000003/000004, whoever the caller.
--
-- 1. [environment-required]. 000003 dropped the DEFAULT 'live' (precog bug #662),
--    so an insert that does not name its environment fails. For the owner that
--    failure was a plain NOT NULL violation; for a role bound by row-level security
--    it was the policy's "new row violates row-level security policy", which names
--    no rule at all (policies are checked before NOT NULL). A BEFORE INSERT trigger
--    now refuses it first, for everybody, with the rule's name. NOT NULL stays as
--    the backstop.
-- 2. Trigger order. BEFORE triggers fire in name order, and 000004 named its role
--    check to fire first, so a paper session changing its own paper position to
--    'live' was told [environment-role] rather than [environment-immutable]. The
--    role check is renamed to fire last: required, then the guards of 000003
--    (immutability, history, cross-reference), then the role.
--
-- Runs inside the transaction graphile-migrate opens (no BEGIN/COMMIT here).

CREATE FUNCTION require_execution_environment() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
BEGIN
  IF NEW.execution_environment IS NULL THEN
    RAISE EXCEPTION '[environment-required] %.execution_environment is required (got NULL): every row names where it executed',
      TG_TABLE_NAME
      USING ERRCODE = 'P0001', TABLE = TG_TABLE_NAME, COLUMN = 'execution_environment',
            HINT = 'Pass execution_environment explicitly (live, paper or backtest). There is no default: a ''live'' default is how simulated positions became real-money ones (precog bug #662); a new SCD version copies it forward from the current version.';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION require_execution_environment() IS
  'BEFORE INSERT on trades and positions: refuses a row without execution_environment ([environment-required]) before anything else can, so the message names the rule for the owner and for roles alike. NOT NULL is the backstop.';

-- 'trades_environment_required' sorts before 'trades_guard_*' and 'trades_role_*'.
CREATE TRIGGER trades_environment_required BEFORE INSERT ON trades
  FOR EACH ROW EXECUTE FUNCTION require_execution_environment();
CREATE TRIGGER positions_environment_required BEFORE INSERT ON positions
  FOR EACH ROW EXECUTE FUNCTION require_execution_environment();

ALTER TRIGGER trades_0_environment_role ON trades RENAME TO trades_role_environment;
ALTER TRIGGER positions_0_environment_role ON positions RENAME TO positions_role_environment;
