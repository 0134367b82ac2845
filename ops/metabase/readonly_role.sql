-- The database role Metabase connects as: it reads the reporting views and nothing else (playbook §4,
-- docs/reports.md). Run once as the database owner, e.g.
--   psql "$CRM_DATABASE_URL" -v reader_password="'<from Vault>'" -f ops/metabase/readonly_role.sql
-- A view is read with its owner's rights, so SELECT on the views is enough: the base tables (crm_contacts,
-- leads, crm_automation_runs, ...) stay closed to this role. Running it again is harmless.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'metabase_reader') THEN
        CREATE ROLE metabase_reader LOGIN;
    END IF;
END
$$;
ALTER ROLE metabase_reader NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
-- Sessions of the role are read-only even if a grant were added by mistake.
ALTER ROLE metabase_reader SET default_transaction_read_only = on;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM metabase_reader;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM metabase_reader;
REVOKE CREATE ON SCHEMA public FROM metabase_reader;
GRANT USAGE ON SCHEMA public TO metabase_reader;
GRANT SELECT ON crm_report_runs_daily, crm_report_automation_sla_weekly, crm_report_failed_runs
    TO metabase_reader;
