{#
  A clean table and its quarantine, one relation: `is_quarantined` says which rows were held back.
  Rows quarantined as AMOUNT-SUSPECT (a unit slip or misplaced decimal) are left out: their amounts as keyed
  are believed nowhere. stg_unit_repaired_amounts carries the plain 万元/元 slips at their repaired amounts.
#}
{% macro published_and_quarantined(entity, columns) -%}
    select {{ columns | join(', ') }}, false as is_quarantined
    from {{ source('clean', entity) }}
    union all
    select {{ columns | join(', ') }}, true as is_quarantined
    from {{ source('quarantine', entity) }}
    where coalesce(quarantine_rules, '') not like '%AMOUNT-SUSPECT%'
{%- endmacro %}
