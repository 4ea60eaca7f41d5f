select * from (
    {{ published_and_quarantined('county_fiscal', [
        'fiscal_year', 'new_fiscal_revenue', 'poverty_allocation', 'usable_idle_funds', 'idle_funds_to_poverty',
        'source', 'department', 'source_file', 'sheet', 'row_number', 'row_key']) }}
) as county_fiscal
