-- The policy's county-year measures, one row per fiscal year. Each row keeps the lineage of the
-- finance bureau's row it starts from, so a failing measure points at a sheet row.
--
-- Every measure is published twice: on published rows (the plain column) and with the money of
-- quarantined rows included (<measure>_with_quarantined), so quarantine never hides a breach. A row
-- quarantined as a suspect amount counts only where its slip is a plain 万元/元 unit error, at its repaired
-- amount (unit_repaired_spending says how much of the spending that is), so one slip moves no share.

{% set measures = [
    'new_fiscal_revenue', 'poverty_allocation', 'fiscal_poverty_share', 'poverty_allocation_change',
    'idle_funds_poverty_share', 'integrated_receipts', 'integrated_spending', 'poor_village_share',
    'poor_household_share', 'infra_department_share', 'industry_township_share', 'policy_subsidies_paid',
    'housing_households', 'housing_poor_households', 'unit_repaired_spending'] %}

with scopes as (
    select 'published' as scope
    union all
    select 'with_quarantined' as scope
),

fiscal as (
    select sc.scope, f.*
    from {{ ref('stg_county_fiscal') }} as f
    cross join scopes as sc
    where sc.scope = 'with_quarantined' or not f.is_quarantined
),

receipts as (
    select sc.scope, r.fiscal_year, sum(r.amount) as integrated_receipts
    from {{ ref('stg_fund_receipts') }} as r
    cross join scopes as sc
    where sc.scope = 'with_quarantined' or not r.is_quarantined
    group by sc.scope, r.fiscal_year
),

spending as (
    select
        sc.scope,
        s.fiscal_year,
        sum(s.amount) as integrated_spending,
        sum(case when v.is_poor_village then s.amount else 0 end) as poor_village_spending,
        sum(s.poor_household_amount) as poor_household_spending,
        sum(case when s.is_unit_repaired then s.amount else 0 end) as unit_repaired_spending
    from {{ ref('int_integrated_spending') }} as s
    cross join scopes as sc
    left join {{ ref('stg_villages') }} as v
        on v.village_code = s.village_code
    where sc.scope = 'with_quarantined' or not s.is_quarantined
    group by sc.scope, s.fiscal_year
),

implementation as (
    select
        sc.scope,
        p.fiscal_year,
        sum(case when p.category = '基础设施' and p.implementing_unit_kind = '部门' then p.budget else 0 end)
            / nullif(sum(case when p.category = '基础设施' then p.budget else 0 end), 0) as infra_department_share,
        sum(case when p.category = '产业发展' and p.implementing_unit_kind = '乡镇' then p.budget else 0 end)
            / nullif(sum(case when p.category = '产业发展' then p.budget else 0 end), 0) as industry_township_share
    from {{ ref('stg_projects') }} as p
    cross join scopes as sc
    where sc.scope = 'with_quarantined' or not p.is_quarantined
    group by sc.scope, p.fiscal_year
),

household_programs as (
    select
        sc.scope,
        h.fiscal_year,
        sum(case when h.program = '惠农补贴' then h.amount else 0 end) as policy_subsidies_paid,
        count(distinct case when h.program = '危房改造' then h.household_id end) as housing_households,
        count(distinct case when h.program = '危房改造' and h.is_registered_poor then h.household_id end)
            as housing_poor_households
    from {{ ref('stg_household_payments') }} as h
    cross join scopes as sc
    where sc.scope = 'with_quarantined' or not h.is_quarantined
    group by sc.scope, h.fiscal_year
),

years as (
    select scope, fiscal_year from fiscal
    union
    select scope, fiscal_year from receipts
    union
    select scope, fiscal_year from spending
),

measured as (
    select
        y.scope,
        y.fiscal_year,
        f.new_fiscal_revenue,
        f.poverty_allocation,
        f.poverty_allocation / nullif(f.new_fiscal_revenue, 0) as fiscal_poverty_share,
        f.poverty_allocation - lag(f.poverty_allocation) over (partition by y.scope order by y.fiscal_year)
            as poverty_allocation_change,
        f.idle_funds_to_poverty / nullif(f.usable_idle_funds, 0) as idle_funds_poverty_share,
        r.integrated_receipts,
        s.integrated_spending,
        s.poor_village_spending / nullif(s.integrated_spending, 0) as poor_village_share,
        s.poor_household_spending / nullif(s.integrated_spending, 0) as poor_household_share,
        coalesce(s.unit_repaired_spending, 0) as unit_repaired_spending,
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
    left join fiscal as f on f.scope = y.scope and f.fiscal_year = y.fiscal_year
    left join receipts as r on r.scope = y.scope and r.fiscal_year = y.fiscal_year
    left join spending as s on s.scope = y.scope and s.fiscal_year = y.fiscal_year
    left join implementation as i on i.scope = y.scope and i.fiscal_year = y.fiscal_year
    left join household_programs as hp on hp.scope = y.scope and hp.fiscal_year = y.fiscal_year
),

all_years as (
    select distinct fiscal_year from measured
)

select
    a.fiscal_year,
    {% for m in measures -%}
    pub.{{ m }},
    wq.{{ m }} as {{ m }}_with_quarantined,
    {% endfor -%}
    coalesce(pub.source, wq.source) as source,
    coalesce(pub.source_file, wq.source_file) as source_file,
    coalesce(pub.sheet, wq.sheet) as sheet,
    coalesce(pub.row_number, wq.row_number) as row_number,
    coalesce(pub.row_key, wq.row_key) as row_key
from all_years as a
left join measured as pub on pub.scope = 'published' and pub.fiscal_year = a.fiscal_year
left join measured as wq on wq.scope = 'with_quarantined' and wq.fiscal_year = a.fiscal_year
