select
    fiscal_year,
    project_code,
    project_name,
    category,
    purpose,
    channel_name,
    township,
    village,
    village_code,
    budget,
    beneficiary_households,
    beneficiary_poor_households,
    implementing_unit
from {{ source('clean', 'projects') }}
