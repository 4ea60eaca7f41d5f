select
    fiscal_year,
    project_code,
    auditor,
    audit_date,
    conclusion
from {{ source('clean', 'audits') }}
