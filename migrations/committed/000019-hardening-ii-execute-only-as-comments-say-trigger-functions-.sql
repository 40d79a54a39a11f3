--! Previous: sha1:5574af41f718a88c32b9ef7b148fd93831209b62
--! Hash: sha1:664cdb68d3c30d97cec5beea51bd61ecd5a7979e
--! Message: Hardening II: EXECUTE only as comments say, trigger functions placed, runs entered where no caller writes, the purge's TRUNCATE under permits, precog_backtest_admin deletes runs

-- Write the next migration here; `npm run dev` applies it on save (so each statement is
-- idempotent: IF NOT EXISTS, policies dropped first).

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
CREATE UNLOGGED TABLE IF NOT EXISTS precog_identity_marks (
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
CREATE UNLOGGED TABLE IF NOT EXISTS precog_backtest_sessions (
  backend          integer PRIMARY KEY,
  transaction      xid8 NOT NULL,
  backtest_run_id  bigint NOT NULL
);
COMMENT ON TABLE precog_backtest_sessions IS
  'The backtest run each backend''s current transaction entered (precog_enter_backtest_run()); a row of an earlier transaction counts for nothing. Granted to nobody.';
REVOKE ALL ON precog_backtest_sessions FROM PUBLIC;

-- Who made a run: a backtest login enters, reads and relabels the runs it made.
ALTER TABLE backtest_runs ADD COLUMN IF NOT EXISTS created_by name NOT NULL DEFAULT session_user;
COMMENT ON COLUMN backtest_runs.created_by IS
  'The login that made the run (session_user): a backtest login reads, relabels, enters and loads its own runs only. Give each backtest process its own login to keep processes apart.';

-- The one TRUNCATE of backtest rows there is, purge_backtest_data()'s (through
-- precog_backtest_truncate()), is vouched for here: a row per partition it truncates, for this
-- backend and transaction, written by that function just before its TRUNCATE and deleted just
-- after. [backtest-purged-together] lets a TRUNCATE through only with such a row; a setting
-- switches nothing. Granted to nobody, so no caller can write a permit.
CREATE UNLOGGED TABLE IF NOT EXISTS precog_truncate_permits (
  backend      integer NOT NULL,
  transaction  xid8 NOT NULL,
  relation     regclass NOT NULL,
  PRIMARY KEY (backend, relation)
);
COMMENT ON TABLE precog_truncate_permits IS
  'For [backtest-purged-together]: the backtest partitions precog_backtest_truncate() is truncating, per backend and transaction (written just before its TRUNCATE, deleted just after). Granted to nobody: no caller can vouch for a TRUNCATE.';
REVOKE ALL ON precog_truncate_permits FROM PUBLIC;

-- framework:begin db/framework/declaration/precog_backtest_runs_table.sql
-- Idempotent: run by precog_environment_table() after its own work, on every declaration.
CREATE OR REPLACE FUNCTION precog_backtest_runs_table(table_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  t regclass := format('public.%I', table_name)::regclass;
  backtest regclass;
  item record;
  statement text;
  has_rows boolean;
  env text;
BEGIN
  -- The column: a backtest row's run is the transaction's (the scope sets precog.backtest_run).
  IF EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t AND a.attname = 'backtest_run_id' AND NOT a.attisdropped AND a.atttypid <> 'bigint'::regtype) THEN
    RAISE EXCEPTION 'precog_environment_table(%): backtest_run_id must be bigint (backtest_runs.id)', table_name
      USING ERRCODE = '42804', HINT = 'Declare backtest_run_id bigint (no default, nullable), or leave it out and the declaration adds it.';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t AND a.attname = 'backtest_run_id' AND NOT a.attisdropped) THEN
    EXECUTE format('ALTER TABLE %s ADD COLUMN backtest_run_id bigint', t);
  END IF;
  EXECUTE format($q$ALTER TABLE %s ALTER COLUMN backtest_run_id SET DEFAULT (NULLIF(pg_catalog.current_setting('precog.backtest_run', true), ''))::bigint$q$, t);
  EXECUTE format('COMMENT ON COLUMN %s.backtest_run_id IS %L', t,
                 'The backtest run a backtest row belongs to (backtest_runs.id); NULL for live and paper rows. Defaults to the run the transaction is opened for (the backtest scope sets precog.backtest_run).');

  -- Unique keys gain the run (as in 000013: a row of one run never collides with another run's).
  FOR item IN
    SELECT c.conname, pg_get_constraintdef(c.oid) AS def, obj_description(c.oid, 'pg_constraint') AS comment
      FROM pg_constraint c WHERE c.conrelid = t AND c.contype IN ('p', 'u')
       AND NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t AND a.attnum = ANY (c.conkey) AND a.attname = 'backtest_run_id')
  LOOP
    statement := regexp_replace(item.def, '^(?:PRIMARY KEY|UNIQUE)(?: NULLS NOT DISTINCT)? \((.*?)\)', 'UNIQUE NULLS NOT DISTINCT (\1, backtest_run_id)');
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I, ADD CONSTRAINT %I %s', t, item.conname, item.conname, statement);
    IF item.comment IS NOT NULL THEN
      EXECUTE format('COMMENT ON CONSTRAINT %I ON %s IS %L', item.conname, t, item.comment);
    END IF;
  END LOOP;
  FOR item IN
    SELECT i.indexrelid::regclass::text AS index_name, pg_get_indexdef(i.indexrelid) AS def, obj_description(i.indexrelid, 'pg_class') AS comment
      FROM pg_index i WHERE i.indrelid = t AND i.indisunique
       AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = t)
       AND NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t AND a.attnum = ANY (i.indkey) AND a.attname = 'backtest_run_id')
  LOOP
    statement := regexp_replace(replace(item.def, ' ON ONLY ', ' ON '),
                                '^(.*? USING \w+ \(.*?)\)((?: INCLUDE \(.*?\))?)(?: NULLS NOT DISTINCT)?((?: WHERE .*)?)$', '\1, backtest_run_id)\2 NULLS NOT DISTINCT\3');
    EXECUTE format('DROP INDEX %s', item.index_name);
    EXECUTE statement;
    IF item.comment IS NOT NULL THEN
      EXECUTE format('COMMENT ON INDEX %s IS %L', item.index_name, item.comment);
    END IF;
  END LOOP;

  -- One backtest partition holds every run (migration 000018 moved 000013's partitions per run
  -- into it). Rows written before runs existed (a table declared with backtest rows) go to one run
  -- made for them.
  backtest := public.precog_environment_partition(t, 'backtest');
  EXECUTE format('SELECT EXISTS (SELECT FROM %s WHERE backtest_run_id IS NULL)', backtest) INTO has_rows;
  IF has_rows THEN
    UPDATE public.precog_environment_keys k SET backtest_run_id = public.precog_backtest_legacy_run()
     WHERE k.table_name = table_name AND k.environment = 'backtest' AND k.backtest_run_id IS NULL;
    PERFORM public.precog_backtest_partition_rebuild(t, public.precog_backtest_legacy_run());
  END IF;
  backtest := public.precog_environment_partition(t, 'backtest');
  PERFORM public.precog_backtest_partition_guarded(t, backtest);
  EXECUTE format('COMMENT ON TABLE %s IS %L', backtest,
                 format('Partition of %s: its backtest rows, every run''s (backtest_run_id), each index twinned led by the run. Read and written through %s only.', table_name, table_name));
  PERFORM public.precog_backtest_run_indexes(t);

  -- [backtest-run-required]: a live or paper row belongs to no run, a backtest row to a known run.
  FOREACH env IN ARRAY array_remove(enum_range(NULL::public.execution_environment)::text[], 'backtest') LOOP
    EXECUTE format('CREATE OR REPLACE TRIGGER backtest_run_required BEFORE INSERT ON %s FOR EACH ROW WHEN (NEW.backtest_run_id IS NOT NULL) EXECUTE FUNCTION public.precog_backtest_run_required()',
                   public.precog_environment_partition(t, env));
  END LOOP;
  EXECUTE format('CREATE OR REPLACE TRIGGER backtest_run_required BEFORE INSERT ON %s FOR EACH ROW WHEN (NEW.backtest_run_id IS NULL) EXECUTE FUNCTION public.precog_backtest_run_required()', backtest);
  FOR item IN SELECT t AS relation UNION ALL SELECT backtest LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS backtest_run_known ON %s', item.relation);
    EXECUTE format('CREATE TRIGGER backtest_run_known AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.precog_backtest_run_known()', item.relation);
  END LOOP;
  IF NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conrelid = t AND c.conname = left(table_name, 40) || '_backtest_run_only_in_backtest') THEN
    EXECUTE format($q$ALTER TABLE %s ADD CONSTRAINT %I CHECK ((execution_environment = 'backtest') = (backtest_run_id IS NOT NULL))$q$, t, left(table_name, 40) || '_backtest_run_only_in_backtest');
  END IF;

  -- precog_backtest reads the rows of the run its transaction entered while that run exists, and
  -- writes rows of that run only: the run is recorded by precog_enter_backtest_run() where no caller
  -- writes (a setting, which any statement can SET and which outlives its transaction when set for
  -- the session, opens nothing).
  EXECUTE format('DROP POLICY IF EXISTS %I ON %s', '[backtest-run] rows of the transaction''s run only', t);
  EXECUTE format($q$CREATE POLICY %I ON %s AS RESTRICTIVE TO precog_backtest
                    USING (backtest_run_id = (SELECT r.id FROM public.backtest_runs r WHERE r.id = (SELECT public.precog_backtest_run())))
                    WITH CHECK (backtest_run_id = (SELECT public.precog_backtest_run()))$q$,
                 '[backtest-run] rows of the transaction''s run only', t);
  EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', '[backtest-run] rows of the transaction''s run only', t,
                 'precog_backtest reads the rows of the run its transaction entered (precog_enter_backtest_run(); no setting opens a run) while that run exists, writes rows of that run only, and none without one.');
  -- The analyst does not see a deleted run's rows, which the sweep has yet to delete.
  EXECUTE format('DROP POLICY IF EXISTS %I ON %s', '[backtest-run-deleted] rows of deleted runs are gone', t);
  EXECUTE format($q$CREATE POLICY %I ON %s AS RESTRICTIVE TO precog_analyst
                    USING (backtest_run_id IS NULL OR backtest_run_id NOT IN (SELECT d.backtest_run_id FROM public.precog_backtest_runs_deleted d))$q$,
                 '[backtest-run-deleted] rows of deleted runs are gone', t);
  EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', '[backtest-run-deleted] rows of deleted runs are gone', t,
                 'A deleted run''s rows are gone from the analyst''s reads at once; precog_backtest_sweep() deletes them afterwards.');
END;
$$;
COMMENT ON FUNCTION precog_backtest_runs_table(text) IS
  'Used by precog_environment_table(): gives a tagged table backtest runs (the backtest_run_id column, one backtest partition holding every run with its indexes twinned led by the run, [backtest-run-required], the [backtest-run] and [backtest-run-deleted] policies, unique keys with the run). Idempotent.';
REVOKE ALL ON FUNCTION precog_backtest_runs_table(text) FROM PUBLIC;
-- framework:end db/framework/declaration/precog_backtest_runs_table.sql

-- framework:begin db/framework/declaration/precog_environment_table.sql
-- The declaration: SELECT precog_environment_table('settlements', kind => 'append_only');
-- installs every guarantee of a tagged table for its kind (the table in README.md): the work per
-- environment (precog_environment_table_by_environment), then backtest runs
-- (precog_backtest_runs_table), then the reference checks of every table again, as they read
-- backtest_run_id, which the table may only now have, then records what it installed in the
-- manifest (precog_environment_manifest_record). Idempotent: declaring again changes nothing.
CREATE OR REPLACE FUNCTION precog_environment_table(
  table_name text,
  kind text,
  business_key text[] DEFAULT NULL,
  mutable_columns text[] DEFAULT NULL,
  current_column text DEFAULT 'row_current_ind',
  end_column text DEFAULT 'row_end_ts'
) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  declared record;
BEGIN
  PERFORM public.precog_environment_table_by_environment(table_name, kind, business_key, mutable_columns, current_column, end_column);
  PERFORM public.precog_backtest_runs_table(table_name);
  -- The reference checks read backtest_run_id, which the table may only now have.
  FOR declared IN
    SELECT d.table_name FROM public.precog_environment_tables d
    UNION SELECT r.referenced_table FROM public.precog_environment_references r WHERE NOT r.same_environment
    ORDER BY 1
  LOOP
    PERFORM public.precog_environment_reference_checks(declared.table_name);
  END LOOP;
  -- EXECUTE on the functions it generated (and every other owner-rights or trigger function) as their comments say.
  PERFORM public.precog_function_privileges();
  -- What was installed, for the review and npm run check (every table: the reference checks of
  -- each were regenerated above).
  FOR declared IN SELECT d.table_name FROM public.precog_environment_tables d ORDER BY 1 LOOP
    PERFORM public.precog_environment_manifest_record(declared.table_name);
  END LOOP;
END;
$$;
COMMENT ON FUNCTION precog_environment_table(text, text, text[], text[], text, text) IS
  'Declares an environment-tagged table and installs every guarantee for its kind (migrations 000010, 000013 and 000018): no default, NOT NULL, immutable environment, same-environment and same-run references, the kind''s write rules, live history kept, LIST partitions by environment, one backtest partition holding every run, row-level security and grants, and its row in precog_environment_tables. Idempotent.';
REVOKE ALL ON FUNCTION precog_environment_table(text, text, text[], text[], text, text) FROM PUBLIC;
-- framework:end db/framework/declaration/precog_environment_table.sql

-- framework:begin db/framework/declaration/precog_function_privileges.sql
-- PostgreSQL grants EXECUTE on a new function to PUBLIC. For every SECURITY DEFINER function and
-- every trigger function of the schema, this takes it back and grants EXECUTE to exactly the roles
-- the function's comment names in its "Executable by ..." sentence (none: the owner only). Run by
-- every declaration (so functions a declaration generates later are covered) and by migrations;
-- test/hardening/definers.test.ts fails on any function callable otherwise (Hardening II, class 1).
CREATE OR REPLACE FUNCTION precog_function_privileges() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  f record;
  grantee text;
  named text;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure AS fn, p.proowner, p.proacl, coalesce(obj_description(p.oid, 'pg_proc'), '') AS comment
      FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND (p.prosecdef OR p.prorettype = 'trigger'::regtype)
  LOOP
    named := coalesce(substring(f.comment FROM 'Executable by ([^.]*)\.'), '');
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f.fn);
    FOR grantee IN
      SELECT DISTINCT a.grantee::regrole::text FROM aclexplode(coalesce(f.proacl, acldefault('f', f.proowner))) a
       WHERE a.grantee <> 0 AND a.grantee <> f.proowner
    LOOP
      IF named !~ ('\m' || grantee || '\M') THEN
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM %I', f.fn, grantee);
      END IF;
    END LOOP;
    FOR grantee IN SELECT r.rolname::text FROM pg_roles r WHERE r.rolname ~ '^precog_' AND named ~ ('\m' || r.rolname || '\M') LOOP
      EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f.fn, grantee);
    END LOOP;
  END LOOP;
END;
$$;
COMMENT ON FUNCTION precog_function_privileges() IS
  'Used by precog_environment_table() and migrations: EXECUTE on every SECURITY DEFINER and trigger function of the schema revoked from PUBLIC and granted to exactly the roles its comment names ("Executable by ...").';
REVOKE ALL ON FUNCTION precog_function_privileges() FROM PUBLIC;
-- framework:end db/framework/declaration/precog_function_privileges.sql

-- framework:begin db/framework/generators/precog_environment_id_checks.sql
-- [identity-issued]: ids are the database's. An environment role that supplied its own (INSERT
-- ... OVERRIDING SYSTEM VALUE) could take an id the sequence will issue next (so that the live
-- application's next insert fails) or one another environment's row already has. Generates, for
-- table t, two statement triggers' functions: precog_ids_mark_<t>() notes the last id issued
-- before the statement, and precog_ids_<t>() refuses any id the statement inserts that was not
-- issued during it (after that mark, up to the sequence's last value). No table is read, however
-- many partitions there are. (Left: an id issued concurrently to another session's statement,
-- chosen in the same instant, passes; the other row then shares it in another environment.)
-- Only for callers bound by row-level security (the WHEN clause): the owner's bulk loads do not
-- pay. SECURITY DEFINER: they read the sequence.
CREATE OR REPLACE FUNCTION precog_environment_id_checks(table_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $gen$
#variable_conflict use_variable
DECLARE
  t regclass := format('public.%I', table_name)::regclass;
  marks text := '';
  checks text := '';
  identity record;
  check_function text := left('precog_ids_' || table_name, 63);
  mark_function text := left('precog_ids_mark_' || table_name, 63);
  placement text := public.precog_trigger_placement(table_name);
BEGIN
  FOR identity IN
    -- pg_get_serial_sequence gives the sequence schema-qualified, as the generated function needs.
    SELECT a.attname::text AS name, pg_get_serial_sequence(t::text, a.attname) AS sequence
      FROM pg_attribute a WHERE a.attrelid = t AND a.attidentity <> '' AND NOT a.attisdropped ORDER BY a.attnum
  LOOP
    -- The mark lives in precog_identity_marks, which only these functions write (Hardening II,
    -- class 2: a setting could be reset by the very statement it guards).
    marks := marks || format($body$
  INSERT INTO public.precog_identity_marks AS m (backend, sequence, mark)
  VALUES (pg_catalog.pg_backend_pid(), %1$L::pg_catalog.regclass, (SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM %1$s s))
  ON CONFLICT (backend, sequence) DO UPDATE SET mark = excluded.mark;
$body$, identity.sequence);
    checks := checks || format($body$
  SELECT n.%1$I AS id, n.execution_environment AS environment INTO chosen
    FROM new_rows n
   WHERE n.%1$I > (SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM %2$s s)
      OR n.%1$I <= coalesce((SELECT m.mark FROM public.precog_identity_marks m
                              WHERE m.backend OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() AND m.sequence OPERATOR(pg_catalog.=) %2$L::pg_catalog.regclass),
                             (SELECT s.last_value FROM %2$s s))
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '[identity-issued] %3$s.%1$s = %% (%%) was not issued to this row by the database', chosen.id, chosen.environment
      USING ERRCODE = 'P0001', TABLE = %3$L, COLUMN = %1$L,
            HINT = 'Let the database issue ids: insert without the column (no OVERRIDING SYSTEM VALUE).';
  END IF;
$body$, identity.name, identity.sequence, table_name);
  END LOOP;
  EXECUTE format('DROP TRIGGER IF EXISTS environment_ids ON %s', t);
  EXECUTE format('DROP TRIGGER IF EXISTS environment_ids_mark ON %s', t);
  IF checks = '' THEN
    EXECUTE format('DROP FUNCTION IF EXISTS public.%I()', check_function);
    EXECUTE format('DROP FUNCTION IF EXISTS public.%I()', mark_function);
    RETURN;
  END IF;
  EXECUTE format($f$CREATE OR REPLACE FUNCTION public.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
BEGIN%s%s
  RETURN NULL;
END;
$body$$f$, mark_function, placement, marks);
  EXECUTE format('REVOKE ALL ON FUNCTION public.%I() FROM PUBLIC', mark_function);
  EXECUTE format('COMMENT ON FUNCTION public.%I() IS %L', mark_function,
                 format('Generated by precog_environment_table(): BEFORE INSERT FOR EACH STATEMENT on %s when the caller is bound by row-level security, noting the last identity value issued before the statement for [identity-issued], in precog_identity_marks (no caller writes it); it runs for that table only ([trigger-misplaced]). SECURITY DEFINER: it reads the sequence and writes the mark. Executable by nobody: triggers run it.', table_name));
  EXECUTE format($f$CREATE OR REPLACE FUNCTION public.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
  chosen record;
BEGIN%s%s
  RETURN NULL;
END;
$body$$f$, check_function, placement, checks);
  EXECUTE format('REVOKE ALL ON FUNCTION public.%I() FROM PUBLIC', check_function);
  EXECUTE format('COMMENT ON FUNCTION public.%I() IS %L', check_function,
                 format('Generated by precog_environment_table(): AFTER INSERT FOR EACH STATEMENT on %s when the caller is bound by row-level security, refusing an identity value not issued by the database during the statement ([identity-issued]); it runs for that table only ([trigger-misplaced]). SECURITY DEFINER: it reads the sequence and the mark. Executable by nobody: triggers run it.', table_name));
  EXECUTE format('CREATE TRIGGER environment_ids_mark BEFORE INSERT ON %s FOR EACH STATEMENT WHEN (pg_catalog.row_security_active(%L::regclass)) EXECUTE FUNCTION public.%I()',
                 t, t::text, mark_function);
  EXECUTE format('CREATE TRIGGER environment_ids AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT WHEN (pg_catalog.row_security_active(%L::regclass)) EXECUTE FUNCTION public.%I()',
                 t, t::text, check_function);
END;
$gen$;
COMMENT ON FUNCTION precog_environment_id_checks(text) IS
  'Used by precog_environment_table(): (re)generates precog_ids_<table>(), which refuses an identity value an environment role chose itself ([identity-issued]).';
REVOKE ALL ON FUNCTION precog_environment_id_checks(text) FROM PUBLIC;
-- framework:end db/framework/generators/precog_environment_id_checks.sql

-- framework:begin db/framework/generators/precog_environment_reference_checks.sql
-- Generates, for table t, the statement-level check of its references and the delete guard of
-- the rows referenced into it, as static SQL (plans cached per session):
--   precog_references_<t>()   AFTER INSERT (and UPDATE of a mutable reference column) FOR EACH
--                             STATEMENT, on t and on each partition: locks the distinct
--                             referenced rows FOR KEY SHARE (as a foreign key does, once per
--                             key rather than per row), then refuses any reference to a row
--                             that is not in the referencing row's own environment
--                             ([environment-cross-reference]) or run ([backtest-run-cross-reference]).
--   precog_referenced_<t>()   BEFORE DELETE OR UPDATE OF its key FOR EACH ROW on t (tagged or
--                             shared): a referenced row is kept, and so is its key.
-- Every check names the referenced environment as a constant (the planner then reads only that
-- environment's partition, however many runs there are), and backtest rows are checked run by
-- run. SECURITY DEFINER, as PostgreSQL's own foreign key checks run as the table owner: the check
-- must see and lock the referenced rows whatever the caller may read or update. The bodies read
-- only tables of the registry, with a pinned search_path.
CREATE OR REPLACE FUNCTION precog_environment_reference_checks(table_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $gen$
#variable_conflict use_variable
DECLARE
  t regclass := format('public.%I', table_name)::regclass;
  checks text := '';
  guards text := '';
  ref public.precog_environment_references;
  declared public.precog_environment_tables;
  on_update boolean := false;
  partition record;
  key_of text;
  pairs text;
  not_null text;
  referenced_keys text;
  constraint_name text;
  env text;
  lock_query text;
  missing_query text;
  check_function text := left('precog_references_' || table_name, 63);
  placement text := public.precog_trigger_placement(table_name);
  guard_function text := left('precog_referenced_' || table_name, 63);
BEGIN
  SELECT * INTO declared FROM public.precog_environment_tables d WHERE d.table_name = table_name;
  FOR ref IN SELECT * FROM public.precog_environment_references r WHERE r.table_name = table_name AND NOT r.same_environment ORDER BY r.columns LOOP
    on_update := on_update OR coalesce(declared.mutable_columns && ref.columns, false);
    key_of := public.precog_sql_list(ref.columns, 'n.%I', ', ');
    not_null := public.precog_sql_list(ref.columns, 'n.%I IS NOT NULL', ' AND ');
    checks := checks || format($body$
  -- (%1$s) -> %2$s (%3$s)
  PERFORM FROM public.%2$I r WHERE (%4$s) IN (SELECT %5$s FROM new_rows n WHERE %6$s) FOR KEY SHARE OF r;
  SELECT format('(%1$s) = (%%s)', concat_ws(', ', %5$s)) AS key INTO missing
    FROM new_rows n
   WHERE %6$s AND NOT EXISTS (SELECT FROM public.%2$I r WHERE %7$s)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '%8$s %% refers to no %2$s row', missing.key
      USING ERRCODE = '23503', TABLE = %8$L, COLUMN = %9$L, CONSTRAINT = %10$L,
            HINT = 'Write the referenced row first.';
  END IF;
$body$, array_to_string(ref.columns, ', '), ref.referenced_table, array_to_string(ref.referenced_columns, ', '),
        public.precog_sql_list(ref.referenced_columns, 'r.%I', ', '),
        key_of, not_null,
        public.precog_sql_pairs(ref.referenced_columns, ref.columns, 'r.%I = n.%I', ' AND '),
        table_name, ref.columns[1], left(table_name || '_' || array_to_string(ref.columns, '_') || '_reference', 63));
  END LOOP;
  FOR ref IN SELECT * FROM public.precog_environment_references r WHERE r.table_name = table_name AND r.same_environment ORDER BY r.columns LOOP
    on_update := on_update OR coalesce(declared.mutable_columns && ref.columns, false);
    key_of := public.precog_sql_list(ref.columns, 'n.%I', ', ');
    referenced_keys := public.precog_sql_list(ref.referenced_columns, 'r.%I', ', ');
    pairs := public.precog_sql_pairs(ref.referenced_columns, ref.columns, 'r.%I = n.%I', ' AND ');
    not_null := public.precog_sql_list(ref.columns, 'n.%I IS NOT NULL', ' AND ');
    constraint_name := left(table_name || '_' || array_to_string(ref.columns, '_') || '_reference', 63);
    -- Live and paper: static SQL, one environment at a time.
    FOREACH env IN ARRAY array_remove(enum_range(NULL::public.execution_environment)::text[], 'backtest') LOOP
      checks := checks || format($body$
  -- (%1$s, execution_environment) -> %2$s (%3$s, execution_environment), %11$s rows
  PERFORM FROM public.%2$I r WHERE r.execution_environment = %11$L AND (%4$s) IN (SELECT %5$s FROM new_rows n WHERE n.execution_environment = %11$L AND %6$s) FOR KEY SHARE OF r;
  SELECT format('(%1$s) = (%%s)', concat_ws(', ', %5$s)) AS key, n.execution_environment AS environment
    INTO missing
    FROM new_rows n
   WHERE n.execution_environment = %11$L AND %6$s AND NOT EXISTS (SELECT FROM public.%2$I r WHERE r.execution_environment = %11$L AND %7$s)
   LIMIT 1;
  -- One message whether the row is missing or of another environment: a role must not learn
  -- from a refusal that a row it cannot see exists elsewhere.
  IF FOUND THEN
    RAISE EXCEPTION '[environment-cross-reference] %8$s %% refers to no %% row of %2$s: a row references only rows of its own environment', missing.key, missing.environment
      USING ERRCODE = 'P0001', TABLE = %8$L, COLUMN = %9$L, CONSTRAINT = %10$L,
            HINT = 'Reference a row of the same environment (written first), or write this row in the environment of the row it references.';
  END IF;
$body$, array_to_string(ref.columns, ', '), ref.referenced_table, array_to_string(ref.referenced_columns, ', '),
          referenced_keys, key_of, not_null, pairs, table_name, ref.columns[1], constraint_name, env);
    END LOOP;
    -- Backtest: run by run, each with its run as a constant (the planner reads that run's
    -- partition only). {run} is replaced by the run's id.
    lock_query := format($q$SELECT count(*) FROM (SELECT FROM public.%1$I r WHERE r.execution_environment = 'backtest' AND r.backtest_run_id = {run} AND (%2$s) IN (SELECT %3$s FROM new_rows n WHERE n.execution_environment = 'backtest' AND n.backtest_run_id = {run} AND %4$s) FOR KEY SHARE OF r) locked$q$,
                         ref.referenced_table, referenced_keys, key_of, not_null);
    missing_query := format($q$SELECT concat_ws(', ', %1$s) FROM new_rows n WHERE n.execution_environment = 'backtest' AND n.backtest_run_id = {run} AND %2$s AND NOT EXISTS (SELECT FROM public.%3$I r WHERE r.execution_environment = 'backtest' AND r.backtest_run_id = {run} AND %4$s) LIMIT 1$q$,
                            key_of, not_null, ref.referenced_table, pairs);
    checks := checks || format($body$
  -- (%1$s, execution_environment, backtest_run_id) -> %2$s (%3$s, execution_environment, backtest_run_id), backtest rows, run by run
  FOR run IN SELECT DISTINCT n.backtest_run_id FROM new_rows n WHERE n.execution_environment = 'backtest' AND %4$s LOOP
    EXECUTE replace(%5$L, '{run}', run::text);
    EXECUTE replace(%6$L, '{run}', run::text) INTO missing_key;
    IF missing_key IS NOT NULL THEN
      -- One message whether the row is in another run, another environment or nowhere: a run
      -- scope must not learn from a refusal that a row it cannot see exists (Hardening II, class 7).
      RAISE EXCEPTION '[backtest-run-cross-reference] %7$s (%1$s) = (%%) of backtest run %% refers to no row of %2$s in its run: a row references only rows of its own run', missing_key, run
        USING ERRCODE = 'P0001', TABLE = %7$L, COLUMN = %8$L, CONSTRAINT = %9$L,
              HINT = 'Reference a row written in the same backtest run (the scope''s run), written first.';
    END IF;
  END LOOP;
$body$, array_to_string(ref.columns, ', '), ref.referenced_table, array_to_string(ref.referenced_columns, ', '), not_null,
        lock_query, missing_query, table_name, ref.columns[1], constraint_name,
        referenced_keys,
        (SELECT string_agg(format('v.k[%s]::%s', i, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY i)
           FROM unnest(ref.referenced_columns) WITH ORDINALITY x(k, i)
           JOIN pg_attribute a ON a.attrelid = format('public.%I', ref.referenced_table)::regclass AND a.attname = x.k));
  END LOOP;
  -- A referenced row is kept: not deleted, and its key not changed (a shared table's can be).
  FOR ref IN SELECT * FROM public.precog_environment_references r WHERE r.referenced_table = table_name ORDER BY r.table_name, r.columns LOOP
    guards := guards || format($body$
  IF (TG_OP = 'DELETE' OR (%8$s) IS DISTINCT FROM (%9$s))
     AND EXISTS (SELECT FROM public.%1$I t WHERE %2$s%10$s) THEN
    RAISE EXCEPTION '%3$s row (%4$s) = (%%) is referenced by %1$s (%5$s); it is kept', concat_ws(', ', %6$s)
      USING ERRCODE = '23503', TABLE = %3$L, CONSTRAINT = %7$L,
            HINT = 'Delete the referencing rows first (backtest data: delete the backtest run, purge_backtest_run(), which removes every tagged table''s rows of the run together).';
  END IF;
$body$, ref.table_name,
        public.precog_sql_pairs(ref.columns, ref.referenced_columns, 't.%I = OLD.%I', ' AND '),
        table_name, array_to_string(ref.referenced_columns, ', '), array_to_string(ref.columns, ', '),
        public.precog_sql_list(ref.referenced_columns, 'OLD.%I', ', '),
        left(ref.table_name || '_' || array_to_string(ref.columns, '_') || '_reference', 63),
        public.precog_sql_list(ref.referenced_columns, 'OLD.%I', ', '),
        public.precog_sql_list(ref.referenced_columns, 'NEW.%I', ', '),
        CASE WHEN ref.same_environment THEN ' AND t.execution_environment = OLD.execution_environment AND t.backtest_run_id IS NOT DISTINCT FROM OLD.backtest_run_id' ELSE '' END);
  END LOOP;

  -- The triggers go first: a function is dropped only once nothing uses it.
  FOR partition IN SELECT t AS relation UNION ALL SELECT i.inhrelid::regclass FROM pg_inherits i WHERE i.inhparent = t LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS environment_references ON %s', partition.relation);
    EXECUTE format('DROP TRIGGER IF EXISTS environment_references_update ON %s', partition.relation);
  END LOOP;
  EXECUTE format('DROP TRIGGER IF EXISTS environment_referenced ON %s', t);
  IF checks <> '' THEN
    -- enable_seqscan off: a run's partition just made has no statistics, and the planner, taking
    -- it for a few pages, would scan it once per new row (a nested loop: 10,000 trades into a
    -- fresh run took 261 ms, 20,000 took 10 s); every referenced key has an index to probe.
    EXECUTE format($f$CREATE OR REPLACE FUNCTION public.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET enable_seqscan = off AS $body$
DECLARE
  missing record;
  missing_key text;
  run bigint;
BEGIN%s%s
  RETURN NULL;
END;
$body$$f$, check_function, placement, checks);
    EXECUTE format('REVOKE ALL ON FUNCTION public.%I() FROM PUBLIC', check_function);
    EXECUTE format('COMMENT ON FUNCTION public.%I() IS %L', check_function,
                   format('Generated by precog_environment_table(): AFTER INSERT FOR EACH STATEMENT on %s and its partitions, the references of precog_environment_references: every reference is to a row of the same environment ([environment-cross-reference]) and, for backtest rows, of the same run ([backtest-run-cross-reference]); it runs for that table only ([trigger-misplaced]). SECURITY DEFINER, as foreign key checks run as the owner. Executable by nobody: triggers run it.', table_name));
    -- On the table for writes through it, and on each partition for the owner's direct writes
    -- (statement triggers fire only for the table a statement names).
    FOR partition IN SELECT t AS relation UNION ALL SELECT i.inhrelid::regclass FROM pg_inherits i WHERE i.inhparent = t LOOP
      EXECUTE format('CREATE TRIGGER environment_references AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.%I()', partition.relation, check_function);
      IF on_update THEN
        EXECUTE format('CREATE TRIGGER environment_references_update AFTER UPDATE ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.%I()', partition.relation, check_function);
      END IF;
    END LOOP;
  ELSE
    EXECUTE format('DROP FUNCTION IF EXISTS public.%I()', check_function);
  END IF;
  IF guards <> '' THEN
    EXECUTE format($f$CREATE OR REPLACE FUNCTION public.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
BEGIN%s%s
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END;
$body$$f$, guard_function, placement, guards);
    EXECUTE format('REVOKE ALL ON FUNCTION public.%I() FROM PUBLIC', guard_function);
    EXECUTE format('COMMENT ON FUNCTION public.%I() IS %L', guard_function,
                   format('Generated by precog_environment_table(): BEFORE DELETE OR UPDATE on %s, a row that a tagged table references (precog_environment_references) is kept, and so is its key; it runs for that table only ([trigger-misplaced]). SECURITY DEFINER, as foreign key checks run as the owner. Executable by nobody: triggers run it.', table_name));
    EXECUTE format('CREATE TRIGGER environment_referenced BEFORE DELETE OR UPDATE OF %s ON %s FOR EACH ROW EXECUTE FUNCTION public.%I()',
                   (SELECT string_agg(DISTINCT quote_ident(k), ', ') FROM public.precog_environment_references r, unnest(r.referenced_columns) k WHERE r.referenced_table = table_name), t, guard_function);
  ELSE
    EXECUTE format('DROP FUNCTION IF EXISTS public.%I()', guard_function);
  END IF;
END;
$gen$;
COMMENT ON FUNCTION precog_environment_reference_checks(text) IS
  'Used by precog_environment_table(): (re)generates the statement-level reference checks of a tagged table and the delete guard of the rows referenced into it, from precog_environment_references.';
REVOKE ALL ON FUNCTION precog_environment_reference_checks(text) FROM PUBLIC;
-- framework:end db/framework/generators/precog_environment_reference_checks.sql

-- framework:begin db/framework/generators/precog_trigger_placement.sql
-- The PL/pgSQL a generated trigger function begins with: it refuses to run for any table but
-- table_name (or a partition of it), so that not even the owner, who may attach any function,
-- fires an owner-rights check on a decoy table ([trigger-misplaced], Hardening II, class 1).
CREATE OR REPLACE FUNCTION precog_trigger_placement(table_name text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT format($p$
  IF coalesce(pg_catalog.pg_partition_root(TG_RELID), TG_RELID) OPERATOR(pg_catalog.<>) %1$L::pg_catalog.regclass THEN
    RAISE EXCEPTION '[trigger-misplaced] %% was made for %% only: it does not run for %%', TG_NAME, %1$L, TG_RELID::pg_catalog.regclass
      USING ERRCODE = '42501', HINT = 'precog_environment_table() attaches this function where it belongs; attach nothing else to it.';
  END IF;$p$, 'public.' || quote_ident(table_name))
$$;
COMMENT ON FUNCTION precog_trigger_placement(text) IS
  'Used by the generators of precog_environment_table(): the first statement of every generated trigger function, refusing to run for a table it was not made for ([trigger-misplaced]).';
REVOKE ALL ON FUNCTION precog_trigger_placement(text) FROM PUBLIC;
-- framework:end db/framework/generators/precog_trigger_placement.sql

-- framework:begin db/framework/guards/precog_backtest_purged_together.sql
-- BEFORE TRUNCATE on <t>_backtest, every run partition and backtest_runs: refused, unless
-- precog_backtest_truncate() (called by purge_backtest_data()) is truncating every backtest
-- partition together in this backend and transaction, as its rows in precog_truncate_permits
-- say. Those rows are written by that function only (the table is granted to nobody); no setting
-- a caller could SET switches the refusal off (Hardening II, class 2). A partition below a
-- permitted one (a run partition of <t>_backtest) is covered by its ancestor's permit.
CREATE OR REPLACE FUNCTION precog_backtest_purged_together() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF EXISTS (SELECT FROM public.precog_truncate_permits p
              WHERE p.backend OPERATOR(pg_catalog.=) pg_backend_pid()
                AND p.transaction OPERATOR(pg_catalog.=) pg_current_xact_id()
                AND p.relation IN (SELECT a FROM pg_partition_ancestors(TG_RELID) a)) THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION '[backtest-purged-together] TRUNCATE of % is refused: backtest rows go only with their run, so that no reference is left dangling', TG_TABLE_NAME
    USING ERRCODE = 'P0001', TABLE = (SELECT c.relname::text FROM pg_class c WHERE c.oid = coalesce(pg_partition_root(TG_RELID), TG_RELID)),
          HINT = 'Delete the run (db.backtests.delete; SQL: DELETE FROM backtest_runs, as precog_backtest_admin), or every run with purge_backtest_data().';
END;
$$;
COMMENT ON FUNCTION precog_backtest_purged_together() IS
  'BEFORE TRUNCATE on the backtest partitions of every tagged table and on backtest_runs: refused ([backtest-purged-together]) but for the one TRUNCATE of every backtest partition by precog_backtest_truncate() (purge_backtest_data()), vouched for by its rows in precog_truncate_permits, which no role can write; no setting switches it off. Executable by nobody: triggers run it.';
REVOKE ALL ON FUNCTION precog_backtest_purged_together() FROM PUBLIC;
-- framework:end db/framework/guards/precog_backtest_purged_together.sql

-- framework:begin db/framework/guards/precog_backtest_run_deleted.sql
-- BEFORE DELETE on backtest_runs: the run is noted as deleted; its rows are gone from every read
-- at once (the policies) and deleted by precog_backtest_sweep() afterwards. It refuses to run for
-- anything else ([trigger-misplaced]): a login attaching it to a table of its own could delete any run.
-- SECURITY DEFINER: precog_backtest_runs_deleted is granted to nobody for writing; it notes the deleted run only.
CREATE OR REPLACE FUNCTION precog_backtest_run_deleted() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF TG_RELID OPERATOR(pg_catalog.<>) 'public.backtest_runs'::regclass OR TG_OP OPERATOR(pg_catalog.<>) 'DELETE' OR TG_LEVEL OPERATOR(pg_catalog.<>) 'ROW' OR TG_WHEN OPERATOR(pg_catalog.<>) 'BEFORE' THEN
    RAISE EXCEPTION '[trigger-misplaced] % was made for deletes of backtest_runs only: it does not run for %', TG_NAME, TG_RELID::regclass
      USING ERRCODE = '42501', HINT = 'The framework attaches this function where it belongs; attach nothing else to it.';
  END IF;
  INSERT INTO public.precog_backtest_runs_deleted (backtest_run_id) VALUES (OLD.id) ON CONFLICT DO NOTHING;
  RETURN OLD;
END;
$$;
COMMENT ON FUNCTION precog_backtest_run_deleted() IS
  'BEFORE DELETE on backtest_runs (and nothing else: [trigger-misplaced]): notes the run in precog_backtest_runs_deleted (one row, whatever the run''s size); its rows are hidden from every read at once and deleted by precog_backtest_sweep(). Every other run, and live and paper, are untouched. Executable by nobody: the trigger runs it.';
REVOKE ALL ON FUNCTION precog_backtest_run_deleted() FROM PUBLIC;
-- framework:end db/framework/guards/precog_backtest_run_deleted.sql

-- framework:begin db/framework/guards/precog_environment_key_guard.sql
-- BEFORE INSERT on versioned tables whose key does not include the environment. TG_ARGV: the
-- key columns. Every version of a key keeps the environment and the backtest run of the first
-- ([environment-immutable]), registered in precog_environment_keys, whose primary key makes two
-- sessions creating one key from two environments serialise. SECURITY DEFINER: the key's first
-- environment must count whatever the caller's row-level security lets it see (a paper session
-- must not add a version to a live key it cannot see), and precog_environment_keys is granted to
-- nobody. It reads and writes only that table, with a pinned search_path.
-- A key of a deleted run is free again: its rows are gone from every read, and the sweep
-- deletes its keys later (000018). A backtest row of no known run is refused for that first.
CREATE OR REPLACE FUNCTION precog_environment_key_guard() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  root regclass := coalesce(pg_partition_root(TG_RELID), TG_RELID);
  root_table text := (SELECT c.relname::text FROM pg_class c WHERE c.oid OPERATOR(pg_catalog.=) root AND c.relnamespace OPERATOR(pg_catalog.=) 'public'::regnamespace);
  new_row jsonb := to_jsonb(NEW);
  key_text text;
  earlier record;
BEGIN
  IF NOT EXISTS (SELECT FROM public.precog_environment_tables d
                  WHERE d.table_name OPERATOR(pg_catalog.=) root_table AND d.kind OPERATOR(pg_catalog.=) 'versioned'
                    AND d.business_key OPERATOR(pg_catalog.=) ARRAY(SELECT pg_catalog.unnest(TG_ARGV))) OR TG_OP OPERATOR(pg_catalog.<>) 'INSERT' OR TG_LEVEL OPERATOR(pg_catalog.<>) 'ROW' THEN
    RAISE EXCEPTION '[trigger-misplaced] % was made for the versioned tables of precog_environment_tables only: it does not run for %', TG_NAME, TG_RELID::regclass
      USING ERRCODE = '42501', HINT = 'precog_environment_table() attaches this function where it belongs; attach nothing else to it.';
  END IF;
  IF NEW.execution_environment IS NULL THEN
    RETURN NEW; -- refused next, by the [environment-required] trigger of the NULL partition
  END IF;
  IF TG_NARGS = 1 THEN
    key_text := new_row ->> TG_ARGV[0];
  ELSE
    SELECT jsonb_agg(new_row -> c ORDER BY i)::text INTO key_text FROM unnest(TG_ARGV) WITH ORDINALITY AS k(c, i);
  END IF;
  INSERT INTO public.precog_environment_keys (table_name, business_key, environment, backtest_run_id)
  VALUES (root_table, key_text, NEW.execution_environment, NEW.backtest_run_id)
  ON CONFLICT ON CONSTRAINT precog_environment_keys_pkey DO NOTHING;
  IF NOT FOUND THEN
    SELECT k.environment, k.backtest_run_id INTO earlier FROM public.precog_environment_keys k
     WHERE k.table_name OPERATOR(pg_catalog.=) root_table
       AND k.business_key OPERATOR(pg_catalog.=) key_text
       FOR UPDATE;
    IF earlier.backtest_run_id IS NOT NULL AND earlier.backtest_run_id IS DISTINCT FROM NEW.backtest_run_id
       AND EXISTS (SELECT FROM public.precog_backtest_runs_deleted d WHERE d.backtest_run_id OPERATOR(pg_catalog.=) earlier.backtest_run_id) THEN
      UPDATE public.precog_environment_keys k SET environment = NEW.execution_environment, backtest_run_id = NEW.backtest_run_id
       WHERE k.table_name OPERATOR(pg_catalog.=) root_table AND k.business_key OPERATOR(pg_catalog.=) key_text;
      RETURN NEW;
    END IF;
    -- A backtest row of no known run is refused for that first (the statement check would, later).
    IF NEW.backtest_run_id IS NOT NULL AND earlier.backtest_run_id IS DISTINCT FROM NEW.backtest_run_id
       AND NOT EXISTS (SELECT FROM public.backtest_runs r WHERE r.id OPERATOR(pg_catalog.=) NEW.backtest_run_id) THEN
      RAISE EXCEPTION '[backtest-run-required] %.backtest_run_id = %: there is no such backtest run', root_table, NEW.backtest_run_id
        USING ERRCODE = 'P0001', TABLE = root_table, COLUMN = 'backtest_run_id',
              HINT = 'Create the run first (createBacktestRun; SQL: create_backtest_run()); a deleted run takes its rows with it.';
    END IF;
    -- The refusal does not name the key's environment or run: a role must not learn it of a key it cannot see.
    IF earlier.environment IS DISTINCT FROM NEW.execution_environment OR earlier.backtest_run_id IS DISTINCT FROM NEW.backtest_run_id THEN
      RAISE EXCEPTION '[environment-immutable] %.execution_environment cannot change across versions of %: it belongs to another environment or backtest run than % (run %)', root_table, key_text, NEW.execution_environment, coalesce(NEW.backtest_run_id::text, 'none')
        USING ERRCODE = 'P0001', TABLE = root_table, COLUMN = 'execution_environment',
              HINT = 'A new version copies execution_environment forward from the current version, in the same run; use a new key for another environment or run.';
    END IF;
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION precog_environment_key_guard() IS
  'BEFORE INSERT on versioned tables whose business key does not include the environment: every version of a key carries the environment (and run) of the first ([environment-immutable], precog bug #662), registered in precog_environment_keys; it runs for the versioned tables of the registry only, with their key ([trigger-misplaced]). SECURITY DEFINER so that versions hidden from the caller by row-level security still count. Executable by nobody: triggers run it.';
REVOKE ALL ON FUNCTION precog_environment_key_guard() FROM PUBLIC;
-- framework:end db/framework/guards/precog_environment_key_guard.sql

-- framework:begin db/framework/load/precog_backtest_load_begin.sql
-- SECURITY DEFINER: the staging tables are DDL. It creates tables of registered tables' shape
-- only, granted INSERT to precog_backtest for the COPY.
CREATE OR REPLACE FUNCTION precog_backtest_load_begin(run bigint, tables text[])
RETURNS TABLE (table_name text, staging_table text, column_names text[], column_types text[], identity_column text, identity_sequence text, referenced boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  t regclass;
  staging text;
  identity record;
  floor_value bigint;
  has_rows boolean;
BEGIN
  IF NOT EXISTS (SELECT FROM public.backtest_runs r WHERE r.id OPERATOR(pg_catalog.=) run) THEN
    RAISE EXCEPTION 'loadRun: there is no backtest run %', run USING ERRCODE = 'P0002', HINT = 'Create the run first (createBacktestRun).';
  END IF;
  FOREACH table_name IN ARRAY tables LOOP
    IF NOT EXISTS (SELECT FROM public.precog_environment_tables d WHERE d.table_name OPERATOR(pg_catalog.=) table_name) THEN
      RAISE EXCEPTION 'loadRun: % is not an environment-tagged table', table_name
        USING ERRCODE = '42P01', HINT = (SELECT 'Load one of: ' || string_agg(d.table_name, ', ' ORDER BY d.table_name) FROM public.precog_environment_tables d);
    END IF;
    t := format('public.%I', table_name)::regclass;
    EXECUTE format('SELECT EXISTS (SELECT FROM %s x WHERE x.backtest_run_id OPERATOR(pg_catalog.=) $1)', public.precog_environment_partition(t, 'backtest')) INTO has_rows USING run;
    IF has_rows THEN
      RAISE EXCEPTION 'loadRun: backtest run % already has % rows; a run is loaded once, into empty tables', run, table_name
        USING ERRCODE = '55000', HINT = 'Load into a new run (createBacktestRun), or delete this one first (npm run backtests -- delete <id>).';
    END IF;
    staging := left(table_name, 40) || '_run_' || run || '_load';
    EXECUTE format('CREATE TABLE public.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)', staging, t);
    EXECUTE format($q$ALTER TABLE public.%I ALTER COLUMN execution_environment SET DEFAULT 'backtest', ALTER COLUMN backtest_run_id SET DEFAULT %s,
                     ADD CONSTRAINT %I CHECK (execution_environment = 'backtest' AND backtest_run_id = %s)$q$,
                   staging, run, left(table_name, 40) || '_run_' || run || '_bound', run);
    floor_value := NULL;
    FOR identity IN
      SELECT a.attname::text AS name, pg_get_serial_sequence(t::text, a.attname) AS sequence FROM pg_attribute a
       WHERE a.attrelid = t AND a.attidentity <> '' AND NOT a.attisdropped
    LOOP
      EXECUTE format('ALTER TABLE public.%I ALTER COLUMN %I SET DEFAULT pg_catalog.nextval(%L::regclass)', staging, identity.name, identity.sequence);
      EXECUTE format('GRANT USAGE ON SEQUENCE %s TO precog_backtest', identity.sequence);
      EXECUTE format('SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM %s s', identity.sequence) INTO floor_value;
    END LOOP;
    EXECUTE format('REVOKE ALL ON public.%I FROM PUBLIC', staging);
    EXECUTE format('GRANT INSERT ON public.%I TO precog_backtest', staging);
    INSERT INTO public.precog_backtest_loads VALUES (run, table_name, staging, floor_value);
    staging_table := staging;
    SELECT array_agg(a.attname::text ORDER BY a.attnum), array_agg(y.typname::text ORDER BY a.attnum) INTO column_names, column_types
      FROM pg_attribute a JOIN pg_type y ON y.oid = a.atttypid WHERE a.attrelid = t AND a.attnum > 0 AND NOT a.attisdropped;
    SELECT a.attname::text, pg_get_serial_sequence(t::text, a.attname) INTO identity_column, identity_sequence
      FROM pg_attribute a WHERE a.attrelid = t AND a.attidentity <> '' AND NOT a.attisdropped LIMIT 1;
    -- Rows another table of this load references get their ids before the COPY (from the sequence).
    referenced := EXISTS (SELECT FROM public.precog_environment_references r
                           WHERE r.referenced_table OPERATOR(pg_catalog.=) table_name AND r.same_environment AND r.table_name OPERATOR(pg_catalog.=) ANY (tables));
    RETURN NEXT;
  END LOOP;
END;
$$;
COMMENT ON FUNCTION precog_backtest_load_begin(bigint, text[]) IS
  'Starts a bulk load of a backtest run, the run the transaction entered (precog_enter_backtest_run()): for each named tagged table (which must hold no row of the run), a staging table of its shape without indexes, bound to the run, for COPY; returns its columns and types, its identity and sequence, and whether another table of the load references it. Finish with precog_backtest_load_finish() in the same transaction. Executable by the owner and precog_backtest. SECURITY DEFINER: the staging tables are DDL.';
REVOKE ALL ON FUNCTION precog_backtest_load_begin(bigint, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_load_begin(bigint, text[]) TO precog_backtest;
-- framework:end db/framework/load/precog_backtest_load_begin.sql

-- framework:begin db/framework/load/precog_backtest_load_finish.sql
-- Checks [identity-issued] set-wise (the insert triggers check it for roles only), then inserts
-- each staging table into the backtest partition, a referenced table before those referencing
-- it: the partition's statement triggers check references, keys and the run for the whole set,
-- as for any insert. A refusal rolls the whole load back.
CREATE OR REPLACE FUNCTION precog_backtest_load_finish(run bigint) RETURNS TABLE (table_name text, rows_loaded bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  load public.precog_backtest_loads;
  t regclass;
  staging regclass;
  item record;
  found_key text;
  issued bigint;
  low bigint;
  high bigint;
  columns text;
BEGIN
  IF NOT EXISTS (SELECT FROM public.precog_backtest_loads l WHERE l.backtest_run_id OPERATOR(pg_catalog.=) run) THEN
    RAISE EXCEPTION 'loadRun: no load of backtest run % was begun in this transaction', run
      USING ERRCODE = '55000', HINT = 'Call precog_backtest_load_begin() first, in the same transaction.';
  END IF;
  -- 1. Nothing more is written to the staging tables; every id was issued to this load.
  FOR load IN SELECT * FROM public.precog_backtest_loads l WHERE l.backtest_run_id OPERATOR(pg_catalog.=) run ORDER BY l.table_name LOOP
    t := format('public.%I', load.table_name)::regclass;
    staging := format('public.%I', load.staging_table)::regclass;
    EXECUTE format('REVOKE ALL ON %s FROM precog_backtest', staging);
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', staging);
    FOR item IN
      SELECT a.attname::text AS name, pg_get_serial_sequence(t::text, a.attname) AS sequence FROM pg_attribute a
       WHERE a.attrelid = t AND a.attidentity <> '' AND NOT a.attisdropped
    LOOP
      EXECUTE format('SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END FROM %s s', item.sequence) INTO issued;
      EXECUTE format('SELECT min(%1$I), max(%1$I) FROM %2$s', item.name, staging) INTO low, high;
      IF low <= load.id_floor OR high > issued THEN
        RAISE EXCEPTION '[identity-issued] %.% = % was not issued to this load by the database', load.table_name, item.name, CASE WHEN low <= load.id_floor THEN low ELSE high END
          USING ERRCODE = 'P0001', TABLE = load.table_name, COLUMN = item.name,
                HINT = 'Let the database issue ids: leave the column out of the COPY (or take them from nextval during the load).';
      END IF;
      EXECUTE format('SELECT x.%1$I::text FROM %2$s x WHERE x.%1$I > %3$s AND x.%1$I <= %4$s AND EXISTS (SELECT FROM %5$s s WHERE s.%1$I = x.%1$I) LIMIT 1',
                     item.name, t, load.id_floor, issued, staging) INTO found_key;
      IF found_key IS NOT NULL THEN
        RAISE EXCEPTION '[identity-issued] %.% = % was not issued to this load by the database: another row has it', load.table_name, item.name, found_key
          USING ERRCODE = 'P0001', TABLE = load.table_name, COLUMN = item.name,
                HINT = 'Let the database issue ids: leave the column out of the COPY (or take them from nextval during the load).';
      END IF;
    END LOOP;
  END LOOP;
  -- 2. Into the backtest partition, referenced tables first.
  FOR load IN
    SELECT l.* FROM public.precog_backtest_loads l JOIN public.precog_backtest_delete_order() WITH ORDINALITY o(table_name, n) ON o.table_name OPERATOR(pg_catalog.=) l.table_name
     WHERE l.backtest_run_id OPERATOR(pg_catalog.=) run ORDER BY o.n DESC
  LOOP
    t := format('public.%I', load.table_name)::regclass;
    staging := format('public.%I', load.staging_table)::regclass;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO columns
      FROM pg_attribute a WHERE a.attrelid = staging AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
    EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s', public.precog_environment_partition(t, 'backtest'), columns, columns, staging);
    GET DIAGNOSTICS rows_loaded = ROW_COUNT;
    EXECUTE format('DROP TABLE %s', staging);
    table_name := load.table_name;
    RETURN NEXT;
  END LOOP;
  DELETE FROM public.precog_backtest_loads l WHERE l.backtest_run_id OPERATOR(pg_catalog.=) run;
END;
$$;
COMMENT ON FUNCTION precog_backtest_load_finish(bigint) IS
  'Finishes a bulk load begun by precog_backtest_load_begin(), of the run the transaction entered: checks [identity-issued] set-wise, then inserts each staging table into the backtest partition (referenced tables first), whose statement triggers check references within the run and to shared rows, keys and the run set-wise. A refusal rolls the whole load back. Executable by the owner and precog_backtest.';
REVOKE ALL ON FUNCTION precog_backtest_load_finish(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_load_finish(bigint) TO precog_backtest;
-- framework:end db/framework/load/precog_backtest_load_finish.sql

-- framework:begin db/framework/load/precog_backtest_load_run_entered.sql
-- BEFORE INSERT OR DELETE on precog_backtest_loads: a load is begun (a row here) and finished (the
-- row deleted) by a transaction that entered its run; the row of a deleted run goes with the run
-- (the cascade), whoever deletes it (Hardening II, class 6).
CREATE OR REPLACE FUNCTION precog_backtest_load_run_entered() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF TG_RELID OPERATOR(pg_catalog.<>) 'public.precog_backtest_loads'::regclass OR TG_LEVEL OPERATOR(pg_catalog.<>) 'ROW' THEN
    RAISE EXCEPTION '[trigger-misplaced] % was made for precog_backtest_loads only: it does not run for %', TG_NAME, TG_RELID::regclass
      USING ERRCODE = '42501', HINT = 'This migration attaches this function where it belongs; attach nothing else to it.';
  END IF;
  IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' AND NEW.backtest_run_id IS DISTINCT FROM public.precog_backtest_run()
     OR TG_OP OPERATOR(pg_catalog.=) 'DELETE' AND OLD.backtest_run_id IS DISTINCT FROM public.precog_backtest_run()
        AND EXISTS (SELECT FROM public.backtest_runs r WHERE r.id OPERATOR(pg_catalog.=) OLD.backtest_run_id) THEN
    RAISE EXCEPTION '[backtest-run] a load is of the run its transaction entered: backtest run % was not entered', CASE WHEN TG_OP = 'INSERT' THEN NEW.backtest_run_id ELSE OLD.backtest_run_id END
      USING ERRCODE = '42501', HINT = 'Enter the run first (SELECT precog_enter_backtest_run(run)), in the same transaction; db.backtests.load does.';
  END IF;
  IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION precog_backtest_load_run_entered() IS
  'BEFORE INSERT OR DELETE on precog_backtest_loads (and nothing else: [trigger-misplaced]): a bulk load is begun and finished by a transaction that entered its run ([backtest-run]). Executable by nobody: the trigger runs it.';
REVOKE ALL ON FUNCTION precog_backtest_load_run_entered() FROM PUBLIC;
-- framework:end db/framework/load/precog_backtest_load_run_entered.sql

-- framework:begin db/framework/runs/create_backtest_run.sql
-- One row: a run has no objects of its own.
CREATE OR REPLACE FUNCTION create_backtest_run(
  strategy_id integer,
  period_start timestamptz,
  period_end timestamptz,
  model_id integer DEFAULT NULL,
  parameters jsonb DEFAULT '{}',
  label text DEFAULT NULL
) RETURNS public.backtest_runs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  made public.backtest_runs;
BEGIN
  IF strategy_id IS NOT NULL AND NOT EXISTS (SELECT FROM public.strategies s WHERE s.strategy_id OPERATOR(pg_catalog.=) strategy_id) THEN
    RAISE EXCEPTION 'create_backtest_run: strategy_id % is no strategy', strategy_id
      USING ERRCODE = '23503', HINT = 'Pass the strategy_id of a row of strategies (the version that ran).';
  END IF;
  IF model_id IS NOT NULL AND NOT EXISTS (SELECT FROM public.probability_models m WHERE m.model_id OPERATOR(pg_catalog.=) model_id) THEN
    RAISE EXCEPTION 'create_backtest_run: model_id % is no probability model', model_id
      USING ERRCODE = '23503', HINT = 'Pass the model_id of a row of probability_models, or none.';
  END IF;
  INSERT INTO public.backtest_runs (strategy_id, model_id, strategy_version, model_version, parameters, period_start, period_end, label)
  VALUES (strategy_id, model_id,
          (SELECT s.strategy_version FROM public.strategies s WHERE s.strategy_id OPERATOR(pg_catalog.=) strategy_id),
          (SELECT m.model_version FROM public.probability_models m WHERE m.model_id OPERATOR(pg_catalog.=) model_id),
          coalesce(parameters, '{}'), period_start, period_end, label)
  RETURNING * INTO made;
  RETURN made;
END;
$$;
COMMENT ON FUNCTION create_backtest_run(integer, timestamptz, timestamptz, integer, jsonb, text) IS
  'Makes a backtest run (status created, made by the session''s login); returns the run. One row: every tagged table''s backtest partition holds every run. Executable by the owner and precog_backtest.';
REVOKE ALL ON FUNCTION create_backtest_run(integer, timestamptz, timestamptz, integer, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION create_backtest_run(integer, timestamptz, timestamptz, integer, jsonb, text) TO precog_backtest;
-- framework:end db/framework/runs/create_backtest_run.sql

-- framework:begin db/framework/runs/precog_backtest_run.sql
-- The run the current transaction entered (precog_enter_backtest_run()), or NULL: a row of an
-- earlier transaction of the backend counts for nothing. SECURITY DEFINER: it reads a table no
-- caller may read.
CREATE OR REPLACE FUNCTION precog_backtest_run() RETURNS bigint
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (SELECT s.backtest_run_id FROM public.precog_backtest_sessions s
           WHERE s.backend OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
             AND s.transaction OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id_if_assigned());
END;
$$;
COMMENT ON FUNCTION precog_backtest_run() IS
  'The backtest run the current transaction entered with precog_enter_backtest_run(), or NULL. Executable by precog_backtest, whose [backtest-run] policies read it. SECURITY DEFINER: it reads a table no caller may read.';
REVOKE ALL ON FUNCTION precog_backtest_run() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_run() TO precog_backtest;
-- framework:end db/framework/runs/precog_backtest_run.sql

-- framework:begin db/framework/runs/precog_backtest_sweep.sql
-- Deletes at most max_rows rows of deleted runs (then their keys, then their note): bounded work
-- in the caller's transaction, on the backtest partitions only (row locks; no lock a live or
-- paper statement takes). Returns how many rows it deleted: call it again until it returns 0.
-- SECURITY DEFINER: precog_backtest may not delete rows (and sees none of a deleted run); this
-- deletes rows of deleted runs only, read from precog_backtest_runs_deleted.
CREATE OR REPLACE FUNCTION precog_backtest_sweep(max_rows integer DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  run bigint;
  declared record;
  budget bigint := greatest(coalesce(max_rows, 10000), 1);
  deleted bigint := 0;
  n bigint;
BEGIN
  FOR run IN SELECT d.backtest_run_id FROM public.precog_backtest_runs_deleted d ORDER BY d.deleted_at, d.backtest_run_id LOOP
    FOR declared IN SELECT o.table_name FROM public.precog_backtest_delete_order() o LOOP
      EXECUTE format('DELETE FROM %1$s x WHERE x.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT y.ctid FROM %1$s y WHERE y.backtest_run_id OPERATOR(pg_catalog.=) $1 LIMIT $2))',
                     public.precog_environment_partition(format('public.%I', declared.table_name)::regclass, 'backtest'))
        USING run, budget - deleted;
      GET DIAGNOSTICS n = ROW_COUNT;
      deleted := deleted + n;
      IF deleted >= budget THEN
        RETURN deleted; -- more may be left: the next call goes on
      END IF;
    END LOOP;
    DELETE FROM public.precog_environment_keys k
     WHERE k.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT y.ctid FROM public.precog_environment_keys y WHERE y.backtest_run_id OPERATOR(pg_catalog.=) run LIMIT budget - deleted));
    GET DIAGNOSTICS n = ROW_COUNT;
    deleted := deleted + n;
    IF deleted >= budget THEN
      RETURN deleted;
    END IF;
    DELETE FROM public.precog_backtest_runs_deleted d WHERE d.backtest_run_id OPERATOR(pg_catalog.=) run;
  END LOOP;
  RETURN deleted;
END;
$$;
COMMENT ON FUNCTION precog_backtest_sweep(integer) IS
  'Deletes at most max_rows rows of deleted backtest runs (already hidden from every read), referencing tables first, then their keys, then the run''s note in precog_backtest_runs_deleted; returns how many rows it deleted (0: nothing is left). Bounded work per call, each call its own transaction. SECURITY DEFINER: precog_backtest may not delete rows; it deletes rows of deleted runs only. Executable by the owner, precog_backtest and precog_backtest_admin.';
REVOKE ALL ON FUNCTION precog_backtest_sweep(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION precog_backtest_sweep(integer) TO precog_backtest, precog_backtest_admin;
-- framework:end db/framework/runs/precog_backtest_sweep.sql

-- framework:begin db/framework/runs/precog_backtest_truncate.sql
-- The one TRUNCATE of backtest rows: every backtest partition of every tagged table (from the
-- registry) in one statement, so that no run's rows are truncated under another table's rows that
-- reference them. [backtest-purged-together] refuses any other TRUNCATE; this one it lets through
-- because of the permits written here, for this backend and transaction, in a table no role can
-- write (a setting would be the caller's to SET). Not SECURITY DEFINER and executable by nobody:
-- purge_backtest_data() (owner's rights) calls it; a layout with one backtest partition per table
-- keeps it as is.
CREATE OR REPLACE FUNCTION precog_backtest_truncate() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  partitions regclass[];
BEGIN
  SELECT array_agg(public.precog_environment_partition(format('public.%I', d.table_name)::regclass, 'backtest') ORDER BY d.table_name)
    INTO partitions FROM public.precog_environment_tables d;
  IF partitions IS NULL THEN
    RETURN;
  END IF;
  DELETE FROM public.precog_truncate_permits p WHERE p.backend OPERATOR(pg_catalog.=) pg_backend_pid();
  INSERT INTO public.precog_truncate_permits (backend, transaction, relation)
    SELECT pg_backend_pid(), pg_current_xact_id(), p FROM unnest(partitions) p;
  EXECUTE format('TRUNCATE %s', (SELECT string_agg(p::text, ', ') FROM unnest(partitions) p));
  DELETE FROM public.precog_truncate_permits p WHERE p.backend OPERATOR(pg_catalog.=) pg_backend_pid();
END;
$$;
COMMENT ON FUNCTION precog_backtest_truncate() IS
  'Used by purge_backtest_data(): truncates every backtest partition of every tagged table in one statement, vouched for by rows of precog_truncate_permits ([backtest-purged-together]). Executable by nobody: the purge runs it with the owner''s rights.';
REVOKE ALL ON FUNCTION precog_backtest_truncate() FROM PUBLIC;
-- framework:end db/framework/runs/precog_backtest_truncate.sql

-- framework:begin db/framework/runs/precog_enter_backtest_run.sql
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
-- framework:end db/framework/runs/precog_enter_backtest_run.sql

-- framework:begin db/framework/runs/purge_backtest_data.sql
-- Every backtest run at once, from the registry: one TRUNCATE of every backtest partition
-- (precog_backtest_truncate(): constant time, a few locks, no row triggers); returns how many rows
-- each tagged table held.
-- SECURITY DEFINER so that it is the one way to delete in bulk: no role has DELETE or TRUNCATE on
-- a tagged table.
CREATE OR REPLACE FUNCTION purge_backtest_data() RETURNS TABLE (table_name text, rows_deleted bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  partitions text;
BEGIN
  SELECT string_agg(public.precog_environment_partition(format('public.%I', d.table_name)::regclass, 'backtest')::text, ', ' ORDER BY d.table_name)
    INTO partitions FROM public.precog_environment_tables d;
  IF partitions IS NOT NULL THEN
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', partitions);
    FOR table_name IN SELECT d.table_name FROM public.precog_environment_tables d ORDER BY d.table_name LOOP
      EXECUTE format('SELECT count(*) FROM %s', public.precog_environment_partition(format('public.%I', table_name)::regclass, 'backtest')) INTO rows_deleted;
      RETURN NEXT;
    END LOOP;
    -- Every backtest row at once, under permits no caller can write (precog_backtest_purged_together).
    PERFORM public.precog_backtest_truncate();
  END IF;
  DELETE FROM public.backtest_runs;
  DELETE FROM public.precog_backtest_runs_deleted;
  DELETE FROM public.precog_environment_keys k WHERE k.environment OPERATOR(pg_catalog.=) 'backtest'::public.execution_environment;
END;
$$;
COMMENT ON FUNCTION purge_backtest_data() IS
  'Deletes every backtest run and its rows in every tagged table in precog_environment_tables (one TRUNCATE of their backtest partitions, by precog_backtest_truncate(): constant time, no row triggers), and nothing else; returns how many rows each table held. Live rows are never deleted, paper rows are kept as training data. Executable by the owner and precog_backtest_admin.';
REVOKE ALL ON FUNCTION purge_backtest_data() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_backtest_data() TO precog_backtest_admin;
-- framework:end db/framework/runs/purge_backtest_data.sql

-- framework:begin db/framework/runs/purge_backtest_run.sql
-- SECURITY DEFINER, as precog_backtest_run_deleted() is: deleting a run notes it as deleted, which
-- only the owner may; it deletes the one run named, and returns the run's row (no tagged row).
CREATE OR REPLACE FUNCTION purge_backtest_run(run bigint) RETURNS public.backtest_runs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  deleted public.backtest_runs;
BEGIN
  DELETE FROM public.backtest_runs r WHERE r.id OPERATOR(pg_catalog.=) run RETURNING * INTO deleted;
  IF deleted.id IS NULL THEN
    RAISE EXCEPTION 'purge_backtest_run: there is no backtest run %', run
      USING ERRCODE = 'P0002', HINT = 'List the runs: npm run backtests -- list (SQL: SELECT * FROM backtest_runs).';
  END IF;
  RETURN deleted;
END;
$$;
COMMENT ON FUNCTION purge_backtest_run(bigint) IS
  'Deletes one backtest run: its rows in every tagged table are hidden at once and deleted by precog_backtest_sweep(); returns the run. Every other run, and live and paper, are untouched. Executable by the owner and precog_backtest_admin.';
REVOKE ALL ON FUNCTION purge_backtest_run(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_backtest_run(bigint) TO precog_backtest_admin;
-- framework:end db/framework/runs/purge_backtest_run.sql

--------------------------------------------------------------------------------
-- 2. The runs: a backtest login's own; deleting any, precog_backtest_admin's
--------------------------------------------------------------------------------
ALTER TABLE backtest_runs ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS "[backtest-run] the login's own runs" ON backtest_runs;
CREATE POLICY "[backtest-run] the login's own runs" ON backtest_runs TO precog_backtest
  USING (created_by OPERATOR(pg_catalog.=) session_user OR id = (SELECT public.precog_backtest_run()))
  WITH CHECK (created_by OPERATOR(pg_catalog.=) session_user OR id = (SELECT public.precog_backtest_run()));
COMMENT ON POLICY "[backtest-run] the login's own runs" ON backtest_runs IS
  'precog_backtest reads and relabels (status, finished_at, label) the runs its login made, and the run its transaction entered; no other run''s parameters or label.';
DROP POLICY IF EXISTS "[backtest-run] every run" ON backtest_runs;
CREATE POLICY "[backtest-run] every run" ON backtest_runs TO precog_analyst, precog_backtest_admin USING (true);
COMMENT ON POLICY "[backtest-run] every run" ON backtest_runs IS
  'precog_analyst reads every run (to compare them); precog_backtest_admin reads and deletes any run.';
REVOKE DELETE ON backtest_runs FROM precog_backtest;
GRANT SELECT, DELETE ON backtest_runs TO precog_backtest_admin;

REVOKE ALL ON FUNCTION purge_backtest_run(bigint) FROM precog_backtest;
REVOKE ALL ON FUNCTION purge_backtest_data() FROM precog_backtest;

-- A load is of the run the transaction entered: begun (a row here) and finished (the row
-- deleted) by that transaction's run only. The row of a deleted run goes with it (the cascade).
CREATE OR REPLACE TRIGGER load_run_entered BEFORE INSERT OR DELETE ON precog_backtest_loads FOR EACH ROW EXECUTE FUNCTION precog_backtest_load_run_entered();

-- Every tagged table again: the generated checks, the [backtest-run] policies and EXECUTE on
-- every owner-rights and trigger function (precog_function_privileges(), run by the declaration).

-- framework:begin db/framework/guards/precog_backtest_run_known.sql
-- AFTER INSERT FOR EACH STATEMENT on <t> and <t>_backtest: every backtest row names a run that
-- exists; the runs are locked FOR KEY SHARE, so deleting one waits for the transactions writing
-- into it (and then none can: its row is gone). SECURITY DEFINER: it reads and locks backtest_runs;
-- so it refuses to run for a table that is not in the registry ([trigger-misplaced]).
CREATE OR REPLACE FUNCTION precog_backtest_run_known() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  unknown bigint;
  table_name text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = coalesce(pg_partition_root(TG_RELID), TG_RELID));
BEGIN
  IF NOT EXISTS (SELECT FROM public.precog_environment_tables d
                  WHERE pg_catalog.to_regclass(pg_catalog.format('public.%I', d.table_name)) OPERATOR(pg_catalog.=) coalesce(pg_partition_root(TG_RELID), TG_RELID))
     OR TG_OP OPERATOR(pg_catalog.<>) 'INSERT' OR TG_LEVEL OPERATOR(pg_catalog.<>) 'STATEMENT' OR TG_WHEN OPERATOR(pg_catalog.<>) 'AFTER' THEN
    RAISE EXCEPTION '[trigger-misplaced] % was made for inserts into the tables of precog_environment_tables only: it does not run for %', TG_NAME, TG_RELID::regclass
      USING ERRCODE = '42501', HINT = 'precog_environment_table() attaches this function where it belongs; attach nothing else to it.';
  END IF;
  PERFORM FROM public.backtest_runs r
   WHERE r.id IN (SELECT DISTINCT n.backtest_run_id FROM new_rows n WHERE n.backtest_run_id IS NOT NULL)
     FOR KEY SHARE OF r;
  SELECT n.backtest_run_id INTO unknown FROM new_rows n
   WHERE n.backtest_run_id IS NOT NULL
     AND NOT EXISTS (SELECT FROM public.backtest_runs r WHERE r.id OPERATOR(pg_catalog.=) n.backtest_run_id)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '[backtest-run-required] %.backtest_run_id = %: there is no such backtest run', table_name, unknown
      USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'backtest_run_id',
            HINT = 'Create the run first (createBacktestRun; SQL: create_backtest_run()); a deleted run takes its rows with it.';
  END IF;
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION precog_backtest_run_known() IS
  'AFTER INSERT FOR EACH STATEMENT on every tagged table and its backtest partition: a backtest row names an existing run ([backtest-run-required]), locked FOR KEY SHARE until the transaction ends; it runs for the tables of the registry only ([trigger-misplaced]). SECURITY DEFINER: it reads and locks backtest_runs. Executable by nobody: triggers run it.';
REVOKE ALL ON FUNCTION precog_backtest_run_known() FROM PUBLIC;
-- framework:end db/framework/guards/precog_backtest_run_known.sql

SELECT precog_environment_redeclare();
