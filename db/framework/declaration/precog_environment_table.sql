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
