-- Write the next migration here; `npm run dev` applies it on save.

-- Hardening II (issue 22): no login can reach past its environment or run, whatever function,
-- setting or partition it uses.
--
--   class  what                                   now
--   -----  -------------------------------------  ----------------------------------------------
--   1      owner-rights and trigger functions     EXECUTE revoked from PUBLIC, granted only to
--          anyone could call (a temporary table   the roles a function's comment names
--          with a trigger calling them)           (precog_function_privileges(), run by every
--                                                 declaration); every SECURITY DEFINER trigger
--                                                 function refuses a table it was not made for
--                                                 ([trigger-misplaced])
--   2      guards trusting a caller's SET         the identity mark lives in precog_identity_marks
--                                                 (no caller writes it); no setting lets a backtest
--                                                 partition or the runs be truncated; a run is
--                                                 entered per transaction through
--                                                 precog_enter_backtest_run(), recorded where no
--                                                 caller writes, so neither a SET nor a run left on
--                                                 a pooled connection opens one
--   6      any backtest process deleting,         deleting a run and purging every run is
--          purging, relabelling, loading,         precog_backtest_admin's (and the owner's); a
--          entering any run                       backtest login reads, relabels, enters and loads
--                                                 the runs it created, and loads only the run its
--                                                 transaction entered
--   7      refusals and reads revealing other     a reference into another run is refused as a
--          runs                                   reference to no row; precog_backtest reads only
--                                                 its own runs in backtest_runs
--
-- Classes 3 and 4 (side doors into run partitions, the bulk load against concurrent writers) and
-- class 5 (keys squatted ahead of live) are not fixed here: see the README's Guarantees.
--
-- The functions are the files of db/framework (blocks below, copied in by npm run framework);
-- this migration adds the tables and grants they need, then declares every table again.

--------------------------------------------------------------------------------
-- 0. A role for deleting runs
--------------------------------------------------------------------------------
-- Roles are server-wide: another database of the server may have made it already.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'precog_backtest_admin') THEN
    CREATE ROLE precog_backtest_admin NOLOGIN;
  END IF;
END
$$;
COMMENT ON ROLE precog_backtest_admin IS
  'Deletes backtest runs (any run) and purges every run: DELETE on backtest_runs, purge_backtest_run(), purge_backtest_data(). A backtest process (precog_backtest) cannot.';
GRANT USAGE ON SCHEMA public TO precog_backtest_admin;

--------------------------------------------------------------------------------
-- 1. State the guards keep where no caller writes
--------------------------------------------------------------------------------
-- [identity-issued]'s mark: the last id a sequence had issued when a statement began, per
-- backend, written only by the generated mark functions (owner's rights). Unlogged: a mark lives
-- for one statement.
CREATE UNLOGGED TABLE precog_identity_marks (
  backend   integer NOT NULL,
  sequence  regclass NOT NULL,
  mark      bigint NOT NULL,
  PRIMARY KEY (backend, sequence)
);
COMMENT ON TABLE precog_identity_marks IS
  'For [identity-issued]: per backend and identity sequence, the last value issued before the current INSERT statement began. Written by the generated precog_ids_mark_<t>() functions only; granted to nobody, so no statement can move its own mark.';
REVOKE ALL ON precog_identity_marks FROM PUBLIC;

-- 000013 held precog_backtest to the run named by the setting precog.backtest_run, which any
-- statement can SET (SET, set_config, or a session-level value left on a pooled connection for
-- the next transaction). The run a transaction entered is now recorded here, per backend and
-- transaction, by precog_enter_backtest_run() only; the [backtest-run] policies read it back with
-- precog_backtest_run(), which answers for the current transaction only.
CREATE UNLOGGED TABLE precog_backtest_sessions (
  backend          integer PRIMARY KEY,
  transaction      xid8 NOT NULL,
  backtest_run_id  bigint NOT NULL
);
COMMENT ON TABLE precog_backtest_sessions IS
  'The backtest run each backend''s current transaction entered (precog_enter_backtest_run()); a row of an earlier transaction counts for nothing. Granted to nobody.';
REVOKE ALL ON precog_backtest_sessions FROM PUBLIC;

-- Who made a run: a backtest login enters, reads and relabels the runs it made.
ALTER TABLE backtest_runs ADD COLUMN created_by name NOT NULL DEFAULT session_user;
COMMENT ON COLUMN backtest_runs.created_by IS
  'The login that made the run (session_user): a backtest login reads, relabels, enters and loads its own runs only. Give each backtest process its own login to keep processes apart.';

-- The one TRUNCATE of backtest rows there is, purge_backtest_data()'s (through
-- precog_backtest_truncate()), is vouched for here: a row per partition it truncates, for this
-- backend and transaction, written by that function just before its TRUNCATE and deleted just
-- after. [backtest-purged-together] lets a TRUNCATE through only with such a row; a setting
-- switches nothing. Granted to nobody, so no caller can write a permit.
CREATE UNLOGGED TABLE precog_truncate_permits (
  backend      integer NOT NULL,
  transaction  xid8 NOT NULL,
  relation     regclass NOT NULL,
  PRIMARY KEY (backend, relation)
);
COMMENT ON TABLE precog_truncate_permits IS
  'For [backtest-purged-together]: the backtest partitions precog_backtest_truncate() is truncating, per backend and transaction (written just before its TRUNCATE, deleted just after). Granted to nobody: no caller can vouch for a TRUNCATE.';
REVOKE ALL ON precog_truncate_permits FROM PUBLIC;
