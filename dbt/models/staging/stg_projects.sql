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
    implementing_unit,
    case
        when implementing_unit like '%人民政府' or implementing_unit like '%镇' or implementing_unit like '%乡'
            then '乡镇'
        else '部门'
    end as implementing_unit_kind,
    publicity_start,
    publicity_end,
    source,
    department,
    source_file,
    sheet,
    row_number,
    row_key,
    is_quarantined
from (
    {{ published_and_quarantined('projects', [
        'fiscal_year', 'project_code', 'project_name', 'category', 'purpose', 'channel_name', 'township', 'village',
        'village_code', 'budget', 'beneficiary_households', 'beneficiary_poor_households', 'implementing_unit',
        'publicity_start', 'publicity_end', 'source', 'department', 'source_file', 'sheet', 'row_number',
        'row_key']) }}
) as projects
