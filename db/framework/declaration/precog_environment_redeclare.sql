-- Declares every table of the registry again, with the arguments it was declared with: each
-- table's partitions, triggers, generated checks, policies and grants are regenerated from the
-- current definitions of db/framework. A migration that ships a changed framework function ends
-- with this one call (npm run framework adds it), so every declared table gets the change.
-- Declaring again changes nothing when nothing changed.
CREATE OR REPLACE FUNCTION precog_environment_redeclare() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  declared public.precog_environment_tables;
BEGIN
  FOR declared IN SELECT * FROM public.precog_environment_tables d ORDER BY d.table_name LOOP
    PERFORM public.precog_environment_table(declared.table_name, declared.kind, declared.business_key, declared.mutable_columns,
                                            declared.current_column, declared.end_column);
  END LOOP;
END;
$$;
COMMENT ON FUNCTION precog_environment_redeclare() IS
  'Declares every table of precog_environment_tables again with its registered arguments, regenerating its objects from the current framework functions. The last statement of a migration that changes one of them. Idempotent.';
REVOKE ALL ON FUNCTION precog_environment_redeclare() FROM PUBLIC;
