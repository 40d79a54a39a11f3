-- The column-list idiom over two lists walked together (a reference's columns and the columns they
-- reference): template formatted with the i-th element of each, joined by separator.
-- precog_sql_pairs(ARRAY['id'], ARRAY['position_id'], 'r.%I = n.%I', ' AND ') is 'r.id = n.position_id'.
CREATE OR REPLACE FUNCTION precog_sql_pairs(lefts text[], rights text[], template text, separator text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT string_agg(format(template, x.l, x.r), separator ORDER BY x.i) FROM unnest(lefts, rights) WITH ORDINALITY AS x(l, r, i)
$$;
COMMENT ON FUNCTION precog_sql_pairs(text[], text[], text, text) IS
  'Used by the framework''s generators: template formatted with the i-th elements of lefts and rights (format(): %I identifier, %L literal), joined by separator, in order.';
REVOKE ALL ON FUNCTION precog_sql_pairs(text[], text[], text, text) FROM PUBLIC;
