select
    fiscal_year,
    new_fiscal_revenue,
    poverty_allocation,
    usable_idle_funds,
    idle_funds_to_poverty,
    source,
    source_file,
    sheet,
    row_number,
    row_key
from {{ source('clean', 'county_fiscal') }}
