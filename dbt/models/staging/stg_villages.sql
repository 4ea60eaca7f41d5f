select
    village_code,
    village,
    township,
    township_code,
    coalesce(is_poor_village, false) as is_poor_village,
    population
from {{ source('clean', 'villages') }}
