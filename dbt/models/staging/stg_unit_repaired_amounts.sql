-- Ledger and roster rows quarantined as suspect amounts (AMOUNT-SUSPECT) whose slip is a plain 万元/元 unit
-- error: the amount × 10,000 or ÷ 10,000 falls inside every bound the rule reads, so the pipeline knows what the
-- row meant (unit_slip_amount, computed with the rule's other derived columns).
--
-- The amount as keyed is published nowhere. The county-year measures count the row at its repaired amount, so
-- one unit slip moves no share; the row stays quarantined (is_quarantined) when it breaks another row rule too.

{% set only_suspect = "trim(replace(replace(quarantine_rules, 'AMOUNT-SUSPECT', ''), ',', '')) = ''" %}
{# Per entity: what it knows of the household (a ledger pays a project, a roster a household). #}
{% set entities = {
    'disbursements': {'household_id': 'cast(null as varchar)', 'is_registered_poor': 'cast(null as boolean)'},
    'household_payments': {'household_id': 'household_id',
                           'is_registered_poor': 'coalesce(household_registered_poor, false)'},
} %}

{% for entity, household in entities.items() %}
{% if not loop.first %}union all{% endif %}
select
    '{{ entity }}' as entity,
    fiscal_year,
    channel_name,
    project_code,
    village_code,
    {{ household['household_id'] }} as household_id,
    amount as amount_as_keyed,
    unit_slip_amount as amount,
    {{ household['is_registered_poor'] }} as is_registered_poor,
    source,
    department,
    source_file,
    sheet,
    row_number,
    row_key,
    not ({{ only_suspect }}) as is_quarantined
from {{ source('quarantine', entity) }}
where quarantine_rules like '%AMOUNT-SUSPECT%' and unit_slip_amount is not null
{% endfor %}
