select * from (
    {{ published_and_quarantined('audits', ['fiscal_year', 'project_code', 'auditor', 'audit_date', 'conclusion']) }}
) as audits
