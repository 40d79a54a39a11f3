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
