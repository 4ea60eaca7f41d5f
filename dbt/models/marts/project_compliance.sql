-- One row per project and fiscal year of the library: what it was budgeted, what was paid, when the
-- first payment came, and whether it was audited that year. Lineage is the project library's row.
-- Quarantined projects and payments are included: a project held back for one fault is still checked
-- for the others (budget, audit, payment before publicity).

with payments as (
    select project_code, fiscal_year, amount, pay_date from {{ ref('stg_disbursements') }}
    union all
    select project_code, fiscal_year, amount, pay_date from {{ ref('stg_household_payments') }}
    where project_code is not null
),

paid as (
    select project_code, fiscal_year, sum(amount) as spent, min(pay_date) as first_payment_date
    from payments
    group by project_code, fiscal_year
),

audited as (
    select distinct project_code, fiscal_year from {{ ref('stg_audits') }}
)

select
    p.fiscal_year,
    p.project_code,
    p.project_name,
    p.budget,
    coalesce(paid.spent, 0) as spent,
    paid.first_payment_date,
    (paid.first_payment_date is null or paid.first_payment_date > p.publicity_end) as paid_after_publicity,
    (a.project_code is not null) as audited,
    p.is_quarantined,
    p.source,
    p.department,
    p.source_file,
    p.sheet,
    p.row_number,
    p.row_key
from {{ ref('stg_projects') }} as p
left join paid on paid.project_code = p.project_code and paid.fiscal_year = p.fiscal_year
left join audited as a on a.project_code = p.project_code and a.fiscal_year = p.fiscal_year
