select
    fiscal_year,
    program,
    household_id,
    head_name,
    household_size,
    township,
    village,
    village_code,
    subsidy_item,
    amount,
    pay_date,
    account_no,
    project_code,
    channel_name,
    coalesce(household_registered_poor, false) as is_registered_poor,
    source,
    department,
    source_file,
    sheet,
    row_number,
    row_key,
    is_quarantined
from (
    {{ published_and_quarantined('household_payments', [
        'fiscal_year', 'program', 'household_id', 'head_name', 'household_size', 'township', 'village',
        'village_code', 'subsidy_item', 'amount', 'pay_date', 'account_no', 'project_code', 'channel_name',
        'household_registered_poor', 'source', 'department', 'source_file', 'sheet', 'row_number', 'row_key']) }}
) as household_payments
