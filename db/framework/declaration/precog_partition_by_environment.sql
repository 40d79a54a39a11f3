-- LIST-partitions a plain table by execution_environment, keeping its rows, ids, keys, indexes,
-- foreign keys, triggers and comments. A table already partitioned that way is left alone.
CREATE OR REPLACE FUNCTION precog_partition_by_environment(t regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
  name text := t::text;
  old_name text := left(t::text, 48) || '_unpartitioned';
  kind "char";
  item record;
  constraints text[] := '{}';
  indexes text[] := '{}';
  triggers text[] := '{}';
  comments text[] := '{}';
  identities text[] := '{}';
  statement text;
BEGIN
  SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = t;
  IF kind = 'p' THEN
    IF pg_get_partkeydef(t) IS DISTINCT FROM 'LIST (execution_environment)' THEN
      RAISE EXCEPTION 'precog_environment_table(%): the table is partitioned by %, not LIST (execution_environment)', name, pg_get_partkeydef(t)
        USING ERRCODE = '42P16', HINT = 'Declare it PARTITION BY LIST (execution_environment), or as a plain table that precog_environment_table partitions.';
    END IF;
    RETURN;
  END IF;
  IF kind <> 'r' THEN
    RAISE EXCEPTION 'precog_environment_table(%): % is not a table', name, name USING ERRCODE = '42809';
  END IF;
  -- What would have to be rebuilt by hand: views over it, foreign keys into it, policies.
  SELECT string_agg(DISTINCT v.oid::regclass::text, ', ') INTO statement
    FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
   WHERE d.refobjid = t AND v.oid <> t;
  IF statement IS NOT NULL THEN
    RAISE EXCEPTION 'precog_environment_table(%): views % read the table, and partitioning it would drop them', name, statement
      USING ERRCODE = '2BP01', HINT = 'Declare the table before creating views over it (or drop and recreate them around the declaration).';
  END IF;
  SELECT string_agg(c.conname || ' on ' || c.conrelid::regclass::text, ', ') INTO statement FROM pg_constraint c WHERE c.confrelid = t AND c.conrelid <> t;
  IF statement IS NOT NULL THEN
    RAISE EXCEPTION 'precog_environment_table(%): foreign keys % reference the table', name, statement
      USING ERRCODE = '2BP01', HINT = 'Declare the table before the tables that reference it, and reference it by (id, execution_environment).';
  END IF;
  IF EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = t) THEN
    RAISE EXCEPTION 'precog_environment_table(%): the table has policies of its own', name
      USING ERRCODE = '55000', HINT = 'Drop them: the declaration installs the environment policies.';
  END IF;

  -- Keys and indexes come back on the partitioned table; a unique one must include the
  -- partition key, so execution_environment is appended where it is missing.
  FOR item IN
    SELECT c.conname, pg_get_constraintdef(c.oid) AS def, c.contype, obj_description(c.oid, 'pg_constraint') AS comment,
           'execution_environment' = ANY (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = t AND a.attnum = ANY (c.conkey)) AS has_env
      FROM pg_constraint c WHERE c.conrelid = t AND c.conparentid = 0 AND c.contype IN ('p', 'u', 'f', 'x') ORDER BY c.contype DESC, c.conname
  LOOP
    statement := item.def;
    IF item.contype IN ('p', 'u') AND NOT item.has_env THEN
      statement := regexp_replace(statement, '^((?:PRIMARY KEY|UNIQUE)(?: NULLS NOT DISTINCT)? \(.*?)\)', '\1, execution_environment)');
    END IF;
    constraints := constraints || format('ALTER TABLE %s ADD CONSTRAINT %I %s', name, item.conname, statement);
    IF item.comment IS NOT NULL THEN
      comments := comments || format('COMMENT ON CONSTRAINT %I ON %s IS %L', item.conname, name, item.comment);
    END IF;
  END LOOP;
  FOR item IN
    SELECT i.indexrelid::regclass::text AS index_name, pg_get_indexdef(i.indexrelid) AS def, i.indisunique, obj_description(i.indexrelid, 'pg_class') AS comment,
           'execution_environment' = ANY (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = t AND a.attnum = ANY (i.indkey)) AS has_env
      FROM pg_index i WHERE i.indrelid = t AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = t)
  LOOP
    statement := item.def;
    IF item.indisunique AND NOT item.has_env THEN
      statement := regexp_replace(statement, '^(.*? USING \w+ \(.*?)\)((?: INCLUDE \(.*?\))?(?: NULLS NOT DISTINCT)?(?: WHERE .*)?)$', '\1, execution_environment)\2');
    END IF;
    indexes := indexes || statement;
    IF item.comment IS NOT NULL THEN
      comments := comments || format('COMMENT ON INDEX %s IS %L', item.index_name, item.comment);
    END IF;
  END LOOP;
  FOR item IN SELECT pg_get_triggerdef(g.oid) AS def FROM pg_trigger g WHERE g.tgrelid = t AND NOT g.tgisinternal LOOP
    triggers := triggers || item.def;
  END LOOP;
  IF obj_description(t, 'pg_class') IS NOT NULL THEN
    comments := comments || format('COMMENT ON TABLE %s IS %L', name, obj_description(t, 'pg_class'));
  END IF;

  -- The table moves aside (with its identity sequences, so the new ones take their names)...
  EXECUTE format('ALTER TABLE %s RENAME TO %I', name, old_name);
  FOR item IN SELECT a.attname, pg_get_serial_sequence(format('public.%I', old_name), a.attname)::regclass AS seq
                FROM pg_attribute a WHERE a.attrelid = t AND a.attidentity <> '' LOOP
    EXECUTE format('ALTER SEQUENCE %s RENAME TO %I', item.seq, left(old_name, 40) || '_' || left(item.attname, 10) || '_seq');
    identities := identities || ARRAY[ARRAY[item.attname, item.seq::text]];
  END LOOP;
  -- ...and comes back partitioned, with its columns, NOT NULLs, CHECKs, defaults and identity.
  EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING COMMENTS INCLUDING CONSTRAINTS INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION) PARTITION BY LIST (execution_environment)',
                 name, old_name);
  FOREACH statement IN ARRAY enum_range(NULL::public.execution_environment)::text[] LOOP
    EXECUTE format('CREATE TABLE public.%I PARTITION OF public.%I FOR VALUES IN (%L)', name || '_' || statement, name, statement);
  END LOOP;
  EXECUTE format('CREATE TABLE public.%I PARTITION OF public.%I FOR VALUES IN (NULL)', name || '_environment_missing', name);
  EXECUTE format('INSERT INTO public.%I OVERRIDING SYSTEM VALUE SELECT * FROM public.%I', name, old_name);
  -- Identities continue after the highest value ever issued.
  FOR i IN 1 .. coalesce(array_length(identities, 1), 0) LOOP
    EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, %L), s.last_value, s.is_called) FROM %s s',
                   format('public.%I', name), identities[i][1], identities[i][2]);
  END LOOP;
  EXECUTE format('DROP TABLE public.%I', old_name);
  FOREACH statement IN ARRAY constraints || indexes || triggers || comments LOOP
    EXECUTE statement;
  END LOOP;
END;
$$;
COMMENT ON FUNCTION precog_partition_by_environment(regclass) IS
  'Used by precog_environment_table(): rebuilds a plain table as LIST-partitioned by execution_environment, keeping rows, ids, keys (unique ones extended with the environment), indexes, foreign keys, triggers and comments. Refuses a table with views, inbound foreign keys or policies.';
REVOKE ALL ON FUNCTION precog_partition_by_environment(regclass) FROM PUBLIC;
