-- Payments of households whose subsidies went to more than one account (一折统): each payment row
-- with whether it used the household's main account (the one most of its payments went to).

with payments as (
    select * from {{ ref('stg_household_payments') }}
    where account_no is not null
),

accounts as (
    select household_id, account_no, count(*) as payments
    from payments
    group by household_id, account_no
),

ranked as (
    select
        household_id,
        account_no,
        row_number() over (partition by household_id order by payments desc, account_no) as rank_in_household,
        count(*) over (partition by household_id) as accounts_used
    from accounts
)

select
    p.fiscal_year,
    p.household_id,
    p.account_no,
    main.account_no as main_account_no,
    (p.account_no = main.account_no) as is_household_account,
    p.source,
    p.department,
    p.source_file,
    p.sheet,
    p.row_number,
    p.row_key
from payments as p
inner join ranked as main
    on main.household_id = p.household_id and main.rank_in_household = 1
where main.accounts_used > 1
