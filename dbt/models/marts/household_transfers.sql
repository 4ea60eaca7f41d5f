-- Transfer income per member of each registered poor household and year, and its change on the
-- previous year. Transfer income here is the recurring policy subsidies (惠农补贴); one-off project
-- payments (housing, relocation) and student subsidies are not income that should rise every year.

with per_year as (
    select
        h.household_id,
        pay.fiscal_year,
        max(h.household_size) as household_size,
        sum(pay.amount) as transfers
    from {{ ref('stg_poor_households') }} as h
    inner join {{ ref('stg_household_payments') }} as pay
        on pay.household_id = h.household_id
    where pay.program = '惠农补贴'
    group by h.household_id, pay.fiscal_year
),

per_member as (
    select
        household_id,
        fiscal_year,
        household_size,
        transfers,
        transfers / nullif(household_size, 0) as transfer_per_member
    from per_year
)

select
    household_id,
    fiscal_year,
    household_size,
    transfers,
    transfer_per_member,
    transfer_per_member - lag(transfer_per_member) over (
        partition by household_id order by fiscal_year
    ) as change_per_member,
    'household_payments' as source
from per_member
