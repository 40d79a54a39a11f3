--! Previous: sha1:9dac7561743e4dd32e06b57cc8438e4e7fe265e8
--! Hash: sha1:7f4adf3bba1f47ef5a4f33d508d6cb7b82a2c202
--! Message: Hardening: CREATE on public revoked, shared tables written by precog_ingest only, the key guard names no other environment

-- 000012: hardening against a hostile environment login (issue 11, sections 1 and 2).
--
-- 1. Nobody but the owner creates objects in public. Databases created before PostgreSQL 15
--    (and every one upgraded from them) still grant CREATE on public to PUBLIC: a paper login
--    could then plant an operator or function (public.nextval(text), an = on
--    execution_environment) that a query or guard resolves to. The guards of 000010 already run
--    with search_path = pg_catalog, pg_temp and name our objects schema-qualified; the queries in
--    sql/ call pg_catalog.nextval on a regclass (sql/positions.sql). This closes the door itself.
-- 2. Shared tables (markets, game states, historical data, strategies, models, teams, platforms)
--    are written by one role, precog_ingest (the collectors and loaders), and only read by the
--    environment roles: a paper login could otherwise rewrite a live market's price in place,
--    which feeds live P&L, or hold an ACCESS EXCLUSIVE lock on it (LOCK needs UPDATE). Tagged
--    tables already grant UPDATE on their mutable columns only, so LOCK TABLE ... IN ACCESS
--    EXCLUSIVE MODE is refused there (a column privilege does not admit it).
--
-- Runs inside the transaction graphile-migrate opens; safe to run again.

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM precog_live, precog_paper, precog_backtest, precog_analyst;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'precog_ingest') THEN
    BEGIN
      CREATE ROLE precog_ingest NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
      COMMENT ON ROLE precog_ingest IS 'precog-db: writes the shared tables (markets, game states, historical data, strategies, models, teams, platforms); reads no environment-tagged row. Grant to the collectors'' and loaders'' login roles.';
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL; -- created meanwhile by the same migration running in another database
    END;
  END IF;
END
$$;
REVOKE CREATE ON SCHEMA public FROM precog_ingest;
GRANT USAGE ON SCHEMA public TO precog_ingest;

-- Shared tables: every table of public without execution_environment, but the registry's own.
DO $$
DECLARE
  shared record;
BEGIN
  FOR shared IN
    SELECT c.oid::regclass AS relation FROM pg_catalog.pg_class c
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND c.relname NOT LIKE 'precog\_environment\_%'
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'execution_environment' AND NOT a.attisdropped)
  LOOP
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON %s FROM precog_live, precog_paper, precog_backtest', shared.relation);
    EXECUTE format('GRANT SELECT ON %s TO precog_live, precog_paper, precog_backtest, precog_analyst, precog_ingest', shared.relation);
    EXECUTE format('GRANT INSERT, UPDATE ON %s TO precog_ingest', shared.relation);
  END LOOP;
END
$$;
