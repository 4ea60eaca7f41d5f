-- The policy's county-year measures, one row per fiscal year. Each row keeps the lineage of the
-- finance bureau's row it starts from, so a failing measure points at a sheet row.

with fiscal as (
    select * from {{ ref('stg_county_fiscal') }}
),

receipts as (
    select fiscal_year, sum(amount) as integrated_receipts
    from {{ ref('stg_fund_receipts') }}
    group by fiscal_year
),

spending as (
    select
        s.fiscal_year,
        sum(s.amount) as integrated_spending,
        sum(case when v.is_poor_village then s.amount else 0 end) as poor_village_spending,
        sum(s.poor_household_amount) as poor_household_spending
    from {{ ref('int_integrated_spending') }} as s
    left join {{ ref('stg_villages') }} as v
        on v.village_code = s.village_code
    group by s.fiscal_year
),

implementation as (
    select
        fiscal_year,
        sum(case when category = '基础设施' and implementing_unit_kind = '部门' then budget else 0 end)
            / nullif(sum(case when category = '基础设施' then budget else 0 end), 0) as infra_department_share,
        sum(case when category = '产业发展' and implementing_unit_kind = '乡镇' then budget else 0 end)
            / nullif(sum(case when category = '产业发展' then budget else 0 end), 0) as industry_township_share
    from {{ ref('stg_projects') }}
    group by fiscal_year
),

household_programs as (
    select
        fiscal_year,
        sum(case when program = '惠农补贴' then amount else 0 end) as policy_subsidies_paid,
        count(distinct case when program = '危房改造' then household_id end) as housing_households,
        count(distinct case when program = '危房改造' and is_registered_poor then household_id end)
            as housing_poor_households
    from {{ ref('stg_household_payments') }}
    group by fiscal_year
),

years as (
    select fiscal_year from fiscal
    union
    select fiscal_year from receipts
    union
    select fiscal_year from spending
)

select
    y.fiscal_year,
    f.new_fiscal_revenue,
    f.poverty_allocation,
    f.poverty_allocation / nullif(f.new_fiscal_revenue, 0) as fiscal_poverty_share,
    f.poverty_allocation - lag(f.poverty_allocation) over (order by y.fiscal_year) as poverty_allocation_change,
    f.idle_funds_to_poverty / nullif(f.usable_idle_funds, 0) as idle_funds_poverty_share,
    r.integrated_receipts,
    s.integrated_spending,
    s.poor_village_spending / nullif(s.integrated_spending, 0) as poor_village_share,
    s.poor_household_spending / nullif(s.integrated_spending, 0) as poor_household_share,
    i.infra_department_share,
    i.industry_township_share,
    coalesce(hp.policy_subsidies_paid, 0) as policy_subsidies_paid,
    coalesce(hp.housing_households, 0) as housing_households,
    coalesce(hp.housing_poor_households, 0) as housing_poor_households,
    f.source,
    f.source_file,
    f.sheet,
    f.row_number,
    f.row_key
from years as y
left join fiscal as f on f.fiscal_year = y.fiscal_year
left join receipts as r on r.fiscal_year = y.fiscal_year
left join spending as s on s.fiscal_year = y.fiscal_year
left join implementation as i on i.fiscal_year = y.fiscal_year
left join household_programs as hp on hp.fiscal_year = y.fiscal_year
