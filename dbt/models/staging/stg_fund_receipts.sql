select
    fiscal_year,
    channel_name,
    channel_level,
    amount,
    source_file,
    sheet,
    row_number
from {{ source('clean', 'fund_receipts') }}
