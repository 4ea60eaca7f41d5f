-- The audited fund flow: source channel -> project -> village -> household, one row per payment,
-- each traced to the department, file, sheet and row it came from. Published rows only: neither
-- quarantined rows nor unit slips at their repaired amounts.

select
    s.fiscal_year,
    s.channel_name,
    s.project_code,
    p.project_name,
    p.category,
    v.township,
    s.village_code,
    v.village,
    coalesce(v.is_poor_village, false) as is_poor_village,
    s.household_id,
    s.amount,
    s.poor_household_amount,
    s.source,
    s.department,
    s.source_file,
    s.sheet,
    s.row_number
from {{ ref('int_integrated_spending') }} as s
left join {{ ref('stg_projects') }} as p
    on p.project_code = s.project_code
left join {{ ref('stg_villages') }} as v
    on v.village_code = s.village_code
where not s.is_quarantined and not s.is_unit_repaired
