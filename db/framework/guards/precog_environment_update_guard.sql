-- BEFORE UPDATE on every tagged table. TG_ARGV: kind, then for versioned the current and end
-- columns, for mutable the columns that may change.
CREATE OR REPLACE FUNCTION precog_environment_update_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  table_name text := (SELECT c.relname::text FROM pg_class c WHERE c.oid = pg_partition_root(TG_RELID));
  kind text := TG_ARGV[0];
  old_row jsonb := to_jsonb(OLD);
  new_row jsonb := to_jsonb(NEW);
  allowed text[];
  changed text;
BEGIN
  IF NEW.execution_environment IS DISTINCT FROM OLD.execution_environment THEN
    RAISE EXCEPTION '[environment-immutable] %.execution_environment cannot change (% -> %)', table_name, OLD.execution_environment, NEW.execution_environment
      USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = 'execution_environment',
            HINT = 'A row stays in the environment it was written in; write a new row in the other environment instead.';
  END IF;
  IF kind = 'append_only' THEN
    RAISE EXCEPTION '[append-only] % is append-only: UPDATE of a % row is refused', table_name, OLD.execution_environment
      USING ERRCODE = 'P0001', TABLE = table_name,
            HINT = 'Record a correcting row instead of changing a recorded fact.';
  END IF;
  IF kind = 'versioned' THEN
    IF NOT (old_row ->> TG_ARGV[1])::boolean THEN
      RAISE EXCEPTION '[version-history-immutable] a superseded version of % (% = false) cannot change', table_name, TG_ARGV[1]
        USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = TG_ARGV[1],
              HINT = 'Superseded versions are history. Change the row by closing its current version and inserting a new one.';
    END IF;
    allowed := ARRAY[TG_ARGV[1], TG_ARGV[2]];
  ELSE
    allowed := TG_ARGV[1:];
  END IF;
  SELECT string_agg(n.key, ', ' ORDER BY n.key) INTO changed
    FROM jsonb_each(new_row) n JOIN jsonb_each(old_row) o USING (key)
   WHERE n.value IS DISTINCT FROM o.value AND n.key <> ALL (allowed);
  IF changed IS NOT NULL THEN
    IF kind = 'versioned' THEN
      RAISE EXCEPTION '[version-immutable] a current version of % can only be closed (% = false, % set); changed: %', table_name, TG_ARGV[1], TG_ARGV[2], changed
        USING ERRCODE = 'P0001', TABLE = table_name,
              HINT = 'SCD Type 2: close the current version and insert a new version with the changed columns (copying execution_environment forward).';
    END IF;
    RAISE EXCEPTION '[immutable-column] % may change only %; changed: %', table_name, array_to_string(allowed, ', '), changed
      USING ERRCODE = 'P0001', TABLE = table_name,
            HINT = 'Every other column is fixed when the row is written; write a new row instead.';
  END IF;
  IF kind = 'versioned' AND (new_row ->> TG_ARGV[1])::boolean AND (new_row -> TG_ARGV[2]) IS DISTINCT FROM (old_row -> TG_ARGV[2]) THEN
    RAISE EXCEPTION '[version-immutable] a current version of % can only be closed: % set without %  = false', table_name, TG_ARGV[2], TG_ARGV[1]
      USING ERRCODE = 'P0001', TABLE = table_name, COLUMN = TG_ARGV[2],
            HINT = 'Close a version by setting both, in one UPDATE.';
  END IF;
  RETURN NEW;
END;
$$;
COMMENT ON FUNCTION precog_environment_update_guard() IS
  'BEFORE UPDATE on every tagged table: the environment never changes ([environment-immutable]); append_only tables refuse every update ([append-only]); versioned tables refuse changes to superseded versions ([version-history-immutable]) and anything but closing a current one ([version-immutable]); mutable tables refuse changes outside their mutable columns ([immutable-column]). Configured by trigger arguments.';
