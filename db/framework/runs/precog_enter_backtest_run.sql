-- The one door into a backtest run (Hardening II, classes 2 and 6): the run a transaction entered
-- is recorded in precog_backtest_sessions, per backend and transaction, where no caller writes;
-- the [backtest-run] policies read it back with precog_backtest_run(). A SET of precog.backtest_run
-- opens nothing, and a run entered in one transaction counts for nothing in the next (a pooled
-- connection). SECURITY DEFINER: it writes precog_backtest_sessions, after checking that the
-- session's login may enter the run (the runs it made; a superuser, the owner and
-- precog_backtest_admin any).
CREATE OR REPLACE FUNCTION precog_enter_backtest_run(run bigint) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF run IS NULL THEN
    DELETE FROM public.precog_backtest_sessions s WHERE s.backend OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
    PERFORM pg_catalog.set_config('precog.backtest_run', '', true);
    RETURN NULL;
  END IF;
  IF NOT EXISTS (
    SELECT FROM public.backtest_runs r
     WHERE r.id OPERATOR(pg_catalog.=) run
       AND (r.created_by OPERATOR(pg_catalog.=) session_user
            OR EXISTS (SELECT FROM pg_catalog.pg_roles a WHERE a.rolname OPERATOR(pg_catalog.=) session_user AND a.rolsuper)
            OR pg_catalog.pg_has_role(session_user, 'precog_backtest_admin', 'MEMBER')
            OR pg_catalog.pg_has_role(session_user, (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) 'public.backtest_runs'::regclass), 'MEMBER'))) THEN
    -- One message whether the run does not exist or is another login's.
    RAISE EXCEPTION '[backtest-run] there is no backtest run % of this login to enter', run
      USING ERRCODE = 'P0002', HINT = 'Open a scope for a run this login made (createBacktestRun), or connect as the login that made it.';
  END IF;
  INSERT INTO public.precog_backtest_sessions AS s (backend, transaction, backtest_run_id)
  VALUES (pg_catalog.pg_backend_pid(), pg_catalog.pg_current_xact_id(), run)
  ON CONFLICT (backend) DO UPDATE SET transaction = excluded.transaction, backtest_run_id = excluded.backtest_run_id;
  -- The setting stays for the column default (backtest_run_id defaults to it); it opens nothing.
  PERFORM pg_catalog.set_config('precog.backtest_run', run::text, true);
  RETURN run;
END;
$$;
COMMENT ON FUNCTION precog_enter_backtest_run(bigint) IS
  'Opens backtest run `run` for the rest of the current transaction ([backtest-run]: precog_backtest reads and writes its rows only); NULL leaves it. A login enters the runs it made (a superuser, the owner and precog_backtest_admin any). Executable by precog_backtest, the role of run scopes. SECURITY DEFINER: it records the run where no caller can write.';
REVOKE ALL ON FUNCTION precog_enter_backtest_run(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_enter_backtest_run(bigint) TO precog_backtest;
