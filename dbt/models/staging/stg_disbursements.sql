select * from (
    {{ published_and_quarantined('disbursements', [
        'fiscal_year', 'project_code', 'channel_name', 'purpose', 'township', 'village', 'village_code', 'amount',
        'pay_date', 'source', 'department', 'source_file', 'sheet', 'row_number', 'row_key']) }}
) as disbursements
