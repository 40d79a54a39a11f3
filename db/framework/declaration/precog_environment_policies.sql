-- Row-level security and grants of one tagged table, from its kind.
CREATE OR REPLACE FUNCTION precog_environment_policies(t regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  declared public.precog_environment_tables;
  env text;
  role_name text;
  roles text;
  writable text;
  policy record;
BEGIN
  SELECT * INTO declared FROM public.precog_environment_tables d WHERE d.table_name = t::text;
  SELECT string_agg(quote_ident('precog_' || e), ', ') INTO roles FROM unnest(enum_range(NULL::public.execution_environment)::text[]) e;
  -- Our policies only: the table's policies are rebuilt from the declaration.
  FOR policy IN SELECT p.polname FROM pg_policy p WHERE p.polrelid = t LOOP
    EXECUTE format('DROP POLICY %I ON %s', policy.polname, t);
  END LOOP;
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
  -- The environment roles pass the permissive policy and are each held to their own rows by a
  -- RESTRICTIVE one: restrictive policies are ANDed, so a login granted two environment roles
  -- sees no rows rather than both environments', and a refused write names the policy, which
  -- is named after the rule.
  EXECUTE format('CREATE POLICY environment_roles ON %s TO %s USING (true) WITH CHECK (true)', t, roles);
  EXECUTE format('COMMENT ON POLICY environment_roles ON %s IS %L', t, 'The environment roles may use the table; the restrictive [environment-role] policies decide which rows.');
  FOREACH env IN ARRAY enum_range(NULL::public.execution_environment)::text[] LOOP
    role_name := 'precog_' || env;
    EXECUTE format('CREATE POLICY %I ON %s AS RESTRICTIVE TO %I USING (execution_environment = %L) WITH CHECK (execution_environment = %L)',
                   '[environment-role] ' || env || ' rows only', t, role_name, env, env);
    EXECUTE format('COMMENT ON POLICY %I ON %s IS %L', '[environment-role] ' || env || ' rows only', t, format('%s reads and writes %s rows only.', role_name, env));
  END LOOP;
  EXECUTE format('CREATE POLICY analyst_reads_all ON %s FOR SELECT TO precog_analyst USING (true)', t);
  EXECUTE format('COMMENT ON POLICY analyst_reads_all ON %s IS %L', t, 'precog_analyst reads every row (cross-environment analysis), writes none.');

  -- Grants: read and insert; update only what the kind lets change; delete never (backtest
  -- data goes through purge_backtest_data()).
  EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, %s, precog_analyst', t, roles);
  EXECUTE format('GRANT SELECT, INSERT ON %s TO %s', t, roles);
  EXECUTE format('GRANT SELECT ON %s TO precog_analyst', t);
  writable := CASE declared.kind
    WHEN 'versioned' THEN format('%I, %I', declared.current_column, declared.end_column)
    WHEN 'mutable' THEN (SELECT string_agg(quote_ident(c), ', ') FROM unnest(declared.mutable_columns) c)
  END;
  IF writable IS NOT NULL THEN
    EXECUTE format('GRANT UPDATE (%s) ON %s TO %s', writable, t, roles);
  END IF;
  FOR policy IN SELECT i.inhrelid::regclass AS partition FROM pg_inherits i WHERE i.inhparent = t LOOP
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, %s, precog_analyst', policy.partition, roles);
  END LOOP;
END;
$$;
COMMENT ON FUNCTION precog_environment_policies(regclass) IS
  'Used by precog_environment_table(): the row-level security policies ([environment-role]) and grants of a tagged table, from its declared kind.';
REVOKE ALL ON FUNCTION precog_environment_policies(regclass) FROM PUBLIC;
