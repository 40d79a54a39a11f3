--! Previous: sha1:0578699f4467b3b513965f910d5046fbf14448e0
--! Hash: sha1:dd8031bd35a5ff68016191af8c2a1fe67cad6281
--! Message: The manifest: precog_environment_table() records what it installed for each tagged table (triggers by relation role, policies, the one-current-version index, the rules each enforces) in precog_environment_manifest

-- The manifest: precog_environment_table() records what it installed for each tagged table
-- (triggers by the role of the relation they are on, policies, the one-current-version index),
-- with the rules each enforces, in precog_environment_manifest. The review and npm run check
-- compare the catalog with it, instead of a list kept by hand in TypeScript.
CREATE TABLE precog_environment_manifest (
  table_name     text NOT NULL REFERENCES precog_environment_tables ON DELETE CASCADE,
  object_kind    text NOT NULL CONSTRAINT precog_environment_manifest_kind CHECK (object_kind IN ('trigger', 'policy', 'index')),
  relation_role  text NOT NULL,
  name           text NOT NULL,
  definition     text NOT NULL,
  rules          text[] NOT NULL,
  about          text NOT NULL,
  PRIMARY KEY (table_name, object_kind, relation_role, name)
);
COMMENT ON TABLE precog_environment_manifest IS
  'What precog_environment_table() installed for each tagged table, recorded right after installing it: triggers (per relation role: table, live, paper, backtest, environment_missing, run_missing, run), policies and the one-current-version index, with their definitions ({relation} for the relation), the [rules] each enforces and what it does. Read by the review and npm run check. Written only by precog_environment_manifest_record().';
COMMENT ON COLUMN precog_environment_manifest.relation_role IS
  'Which relations of the table''s tree hold the object: table, an environment (live, paper, backtest), environment_missing (the NULL partition), run_missing (the DEFAULT run partition) or run (every run partition).';
REVOKE ALL ON precog_environment_manifest FROM PUBLIC;

-- framework:begin db/framework/declaration/precog_environment_manifest_record.sql
-- The manifest: what the declaration installed for a tagged table, recorded right after it
-- installed it, so that the review and npm run check compare the catalog with what the
-- declaration did rather than with a list kept by hand. Recorded per role of a relation in the
-- table's tree (the table, each environment's partition, the partition of a NULL environment,
-- <t>_run_missing, and "run": every run partition alike), so that a run made later is judged
-- by the same rows:
--   trigger   every trigger of ours (its function is named precog_*) on the tree (a partition's
--             clone of its table's row trigger is the table's), its definition
--             with the relation replaced by {relation}, and the rules its function names
--   policy    every policy on the table, as PostgreSQL deparses it
--   index     the one-current-version index of a versioned table
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
  WITH RECURSIVE tree(relation, role) AS (
    SELECT t, 'table'::text COLLATE "C"
    UNION ALL
    SELECT i.inhrelid::regclass,
           CASE WHEN tree.role = 'table' THEN coalesce(substring(pg_get_expr(c.relpartbound, c.oid) FROM '^FOR VALUES IN \(''(\w+)''\)$'), 'environment_missing')
                WHEN pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' THEN 'run_missing'
                ELSE 'run' END COLLATE "C"
      FROM tree JOIN pg_inherits i ON i.inhparent = tree.relation JOIN pg_class c ON c.oid = i.inhrelid
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
    FROM pg_class c WHERE c.oid = to_regclass(format('public.%I', table_name || '_one_current_version'));
END;
$$;
COMMENT ON FUNCTION precog_environment_manifest_record(text) IS
  'Used by precog_environment_table(): records in precog_environment_manifest what the declaration installed for a tagged table (triggers by relation role, policies, the one-current-version index), with the rules each enforces.';
REVOKE ALL ON FUNCTION precog_environment_manifest_record(text) FROM PUBLIC;
-- framework:end db/framework/declaration/precog_environment_manifest_record.sql

-- framework:begin db/framework/declaration/precog_environment_table.sql
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
  -- What was installed, for the review and npm run check (every table: the reference checks of
  -- each were regenerated above).
  FOR declared IN SELECT d.table_name FROM public.precog_environment_tables d ORDER BY 1 LOOP
    PERFORM public.precog_environment_manifest_record(declared.table_name);
  END LOOP;
END;
$$;
COMMENT ON FUNCTION precog_environment_table(text, text, text[], text[], text, text) IS
  'Declares an environment-tagged table and installs every guarantee for its kind (migrations 000010 and 000013): no default, NOT NULL, immutable environment, same-environment and same-run references, the kind''s write rules, live history kept, LIST partitions by environment and backtest run, row-level security and grants, and its row in precog_environment_tables. Idempotent.';
REVOKE ALL ON FUNCTION precog_environment_table(text, text, text[], text[], text, text) FROM PUBLIC;
-- framework:end db/framework/declaration/precog_environment_table.sql

-- framework:begin db/framework/declaration/precog_manifest_rules.sql
-- The rules a text names, as every refusal names them: '[environment-immutable]', ... in order, once.
CREATE OR REPLACE FUNCTION precog_manifest_rules(about text) RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT coalesce(array_agg(r.rule ORDER BY r.first), '{}')
    FROM (SELECT m.match[1] AS rule, min(m.n) AS first FROM regexp_matches(coalesce(about, ''), '(\[[a-z][a-z-]*\])', 'g') WITH ORDINALITY AS m(match, n) GROUP BY 1) r
$$;
COMMENT ON FUNCTION precog_manifest_rules(text) IS
  'Used by precog_environment_manifest_record(): the [rule] names a comment mentions, in order of first mention.';
REVOKE ALL ON FUNCTION precog_manifest_rules(text) FROM PUBLIC;
-- framework:end db/framework/declaration/precog_manifest_rules.sql

SELECT precog_environment_redeclare();
