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
