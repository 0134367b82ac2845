-- The "Automation SLA" question (playbook §4): the last 8 ISO weeks per workflow, one row per week and workflow.
-- Metabase native query on PostgreSQL; {{tenant}} is a text variable (default mrdj). `crm reports
-- metabase-provision` creates the question from this file. Reads only the view crm_report_automation_sla_weekly.
SELECT iso_week, workflow, runs, within_2_minutes, pct_within_2_minutes,
       within_sla, pct_within_sla, target_pct, meets_target
FROM crm_report_automation_sla_weekly
WHERE tenant = {{tenant}}
  AND week_start >= CURRENT_DATE - INTERVAL '8 weeks'
ORDER BY week_start DESC, workflow
