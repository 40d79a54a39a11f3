-- The generated DDL's one column-list idiom: every element of items formatted by template and
-- joined by separator, in the array's order. The template quotes as format() does: %I an
-- identifier, %L a literal, %s as it is. precog_sql_list(ARRAY['id', 'kind'], 'n.%I', ', ') is
-- 'n.id, n.kind'; an empty array gives NULL, as string_agg does.
CREATE OR REPLACE FUNCTION precog_sql_list(items text[], template text, separator text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT string_agg(format(template, x.item), separator ORDER BY x.i) FROM unnest(items) WITH ORDINALITY AS x(item, i)
$$;
COMMENT ON FUNCTION precog_sql_list(text[], text, text) IS
  'Used by the framework''s generators: each element of items formatted by template (format(): %I identifier, %L literal), joined by separator, in order.';
REVOKE ALL ON FUNCTION precog_sql_list(text[], text, text) FROM PUBLIC;
