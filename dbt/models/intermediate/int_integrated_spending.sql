-- Every yuan of integrated funds spent, at the finest grain known:
-- project ledgers reach a village; household rosters reach a household.
-- poor_household_amount attributes a project payment to poor households by the project's
-- share of poor beneficiary households (the county's 到户 measure).
-- is_quarantined marks money held back by a row rule: the published measures leave it out, the
-- "with quarantined money" measures keep it. Suspect amounts count only where the slip is a plain unit
-- error, at their repaired amounts (is_unit_repaired; stg_unit_repaired_amounts); fund_flow leaves them out.

with projects as (
    select * from {{ ref('stg_projects') }}
),

repaired as (
    select * from {{ ref('stg_unit_repaired_amounts') }}
),

ledger_rows as (
    select
        fiscal_year, channel_name, project_code, village_code, amount, source, department, source_file, sheet,
        row_number, is_quarantined, false as is_unit_repaired
    from {{ ref('stg_disbursements') }}
    union all
    select
        fiscal_year, channel_name, project_code, village_code, amount, source, department, source_file, sheet,
        row_number, is_quarantined, true as is_unit_repaired
    from repaired
    where entity = 'disbursements'
),

roster_rows as (
    select
        fiscal_year, channel_name, project_code, village_code, household_id, amount, is_registered_poor, source,
        department, source_file, sheet, row_number, is_quarantined, false as is_unit_repaired
    from {{ ref('stg_household_payments') }}
    union all
    select
        fiscal_year, channel_name, project_code, village_code, household_id, amount, is_registered_poor, source,
        department, source_file, sheet, row_number, is_quarantined, true as is_unit_repaired
    from repaired
    where entity = 'household_payments'
),

project_payments as (
    select
        d.fiscal_year,
        d.channel_name,
        d.project_code,
        d.village_code,
        cast(null as varchar) as household_id,
        d.amount,
        d.amount * coalesce(
            cast(p.beneficiary_poor_households as double precision) / nullif(p.beneficiary_households, 0), 0
        ) as poor_household_amount,
        d.source,
        d.department,
        d.source_file,
        d.sheet,
        d.row_number,
        d.is_quarantined,
        d.is_unit_repaired
    from ledger_rows as d
    left join projects as p
        on p.project_code = d.project_code
),

household_payments as (
    select
        fiscal_year,
        channel_name,
        project_code,
        village_code,
        household_id,
        amount,
        case when is_registered_poor then amount else 0 end as poor_household_amount,
        source,
        department,
        source_file,
        sheet,
        row_number,
        is_quarantined,
        is_unit_repaired
    from roster_rows
    where channel_name is not null  -- policy subsidies (惠农补贴) are not integrated funds
)

select * from project_payments
union all
select * from household_payments
