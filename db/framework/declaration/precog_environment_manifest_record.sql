-- The manifest: what the declaration installed for a tagged table, recorded right after it
-- installed it, so that the review and npm run check compare the catalog with what the
-- declaration did rather than with a list kept by hand. Recorded per role of a relation in the
-- table's tree (the table, each environment's partition, the partition of a NULL environment;
-- every run's rows are in the backtest partition, 000018):
--   trigger   every trigger of ours (its function is named precog_*) on the tree (a partition's
--             clone of its table's row trigger is the table's), its definition
--             with the relation replaced by {relation}, and the rules its function names
--             (backtest_run_known on the table and on <t>_backtest among them)
--   policy    every policy on the table, as PostgreSQL deparses it
--   index     the one-current-version index of a versioned table, and the twins of the table's
--             indexes on the backtest partition led by the run (<index>_by_run), which keep a
--             run's statements to its run's entries
-- Each row carries the rules the object enforces ([rule] names, from its function's or its own
-- comment) and what it does (that comment), which the review quotes when the object is gone.
CREATE OR REPLACE FUNCTION precog_environment_manifest_record(table_name text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
  t regclass := format('public.%I', table_name)::regclass;
BEGIN
  DELETE FROM public.precog_environment_manifest m WHERE m.table_name = table_name;
  INSERT INTO public.precog_environment_manifest (table_name, object_kind, relation_role, name, definition, rules, about)
  WITH tree(relation, role) AS (
    SELECT t, 'table'::text COLLATE "C"
    UNION ALL
    SELECT i.inhrelid::regclass,
           coalesce(substring(pg_get_expr(c.relpartbound, c.oid) FROM '^FOR VALUES IN \(''(\w+)''\)$'), 'environment_missing') COLLATE "C"
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = t
  ), triggers AS (
    SELECT DISTINCT ON (tree.role, g.tgname) tree.role, g.tgname::text AS name,
           replace(pg_get_triggerdef(g.oid), ' ON ' || tree.relation::text || ' ', ' ON {relation} ') AS definition,
           coalesce(obj_description(g.tgfoid, 'pg_proc'), '') AS about
      FROM tree JOIN pg_trigger g ON g.tgrelid = tree.relation AND NOT g.tgisinternal AND g.tgparentid = 0
      JOIN pg_proc p ON p.oid = g.tgfoid
     WHERE p.proname LIKE 'precog\_%'
     ORDER BY tree.role, g.tgname, tree.relation::oid
  )
  SELECT table_name, 'trigger', x.role, x.name, x.definition, public.precog_manifest_rules(x.about), x.about FROM triggers x
  UNION ALL
  SELECT table_name, 'policy', 'table', p.polname::text,
         format('%s FOR %s TO %s USING (%s) WITH CHECK (%s)', CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END, p.polcmd,
                CASE WHEN p.polroles = '{0}' THEN 'public' ELSE (SELECT string_agg(r.rolname::text, ', ' ORDER BY r.rolname) FROM pg_roles r WHERE r.oid = ANY (p.polroles)) END,
                coalesce(pg_get_expr(p.polqual, p.polrelid), ''), coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')),
         public.precog_manifest_rules(p.polname || ' ' || coalesce(obj_description(p.oid, 'pg_policy'), '')),
         coalesce(obj_description(p.oid, 'pg_policy'), '')
    FROM pg_policy p WHERE p.polrelid = t
  UNION ALL
  SELECT table_name, 'index', 'table', c.relname::text, replace(pg_get_indexdef(c.oid), ' ON ' || t::text || ' ', ' ON {relation} '),
         '{}', coalesce(obj_description(c.oid, 'pg_class'), '')
    FROM pg_class c WHERE c.oid = to_regclass(format('public.%I', table_name || '_one_current_version'))
  UNION ALL
  SELECT table_name, 'index', 'backtest', c.relname::text, replace(pg_get_indexdef(c.oid), ' ON ' || i.indrelid::regclass::text || ' ', ' ON {relation} '),
         '{}', coalesce(obj_description(c.oid, 'pg_class'), '')
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
   WHERE i.indrelid = public.precog_environment_partition(t, 'backtest') AND c.relname LIKE '%\_by\_run';
END;
$$;
COMMENT ON FUNCTION precog_environment_manifest_record(text) IS
  'Used by precog_environment_table(): records in precog_environment_manifest what the declaration installed for a tagged table (triggers by relation role, policies, the one-current-version index, the run-led twins of its indexes on the backtest partition), with the rules each enforces.';
REVOKE ALL ON FUNCTION precog_environment_manifest_record(text) FROM PUBLIC;
