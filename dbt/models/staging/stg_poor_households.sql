select
    household_id,
    head_name,
    household_size,
    village_code,
    township_code
from {{ source('clean', 'poor_households') }}
