select * from (
    {{ published_and_quarantined('fund_receipts', [
        'fiscal_year', 'channel_name', 'channel_level', 'amount', 'source', 'department', 'source_file', 'sheet',
        'row_number']) }}
) as fund_receipts
