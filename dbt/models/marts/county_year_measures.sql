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
    f.idle_funds_to_poverty / nullif(f.usable_idle_funds, 0) as idle_funds_poverty_share,
    r.integrated_receipts,
    s.integrated_spending,
    s.poor_village_spending / nullif(s.integrated_spending, 0) as poor_village_share,
    s.poor_household_spending / nullif(s.integrated_spending, 0) as poor_household_share,
    f.source,
    f.source_file,
    f.sheet,
    f.row_number,
    f.row_key
from years as y
left join fiscal as f on f.fiscal_year = y.fiscal_year
left join receipts as r on r.fiscal_year = y.fiscal_year
left join spending as s on s.fiscal_year = y.fiscal_year
