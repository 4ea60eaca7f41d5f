-- Per fiscal year and channel: what was received, budgeted to projects, and spent; quarantined rows
-- included (an aggregate rule must not lose a breach to quarantine).

with receipts as (
    select fiscal_year, channel_name, sum(amount) as received
    from {{ ref('stg_fund_receipts') }}
    group by fiscal_year, channel_name
),

budgets as (
    select fiscal_year, channel_name, sum(budget) as budgeted, count(*) as projects
    from {{ ref('stg_projects') }}
    group by fiscal_year, channel_name
),

spending as (
    select fiscal_year, channel_name, sum(amount) as spent
    from {{ ref('int_integrated_spending') }}
    group by fiscal_year, channel_name
),

keys as (
    select fiscal_year, channel_name from receipts
    union
    select fiscal_year, channel_name from budgets
    union
    select fiscal_year, channel_name from spending
)

select
    k.fiscal_year,
    k.channel_name,
    coalesce(r.received, 0) as received,
    coalesce(b.budgeted, 0) as budgeted,
    coalesce(b.projects, 0) as projects,
    coalesce(s.spent, 0) as spent
from keys as k
left join receipts as r on r.fiscal_year = k.fiscal_year and r.channel_name = k.channel_name
left join budgets as b on b.fiscal_year = k.fiscal_year and b.channel_name = k.channel_name
left join spending as s on s.fiscal_year = k.fiscal_year and s.channel_name = k.channel_name
