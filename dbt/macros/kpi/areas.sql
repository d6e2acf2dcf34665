{# Column- and clause-sized helpers for the KPI models: every KPI is computed per community,
   street and district in one pass with grouping sets; the rows say which level they are
   (area_level) and which area (area_code). The aggregating CTE must expose community_code,
   street_code, district_code.
   Facts are read from the warehouse's first day on (warehouse_first_day): a late row of an
   earlier day describes a period the warehouse never received whole. #}

{% macro area_level() -%}
    case
        when grouping(community_code) = 0 then 'community'
        when grouping(street_code) = 0 then 'street'
        else 'district'
    end
{%- endmacro %}

{% macro area_code() -%}
    case
        when grouping(community_code) = 0 then community_code
        when grouping(street_code) = 0 then street_code
        else district_code
    end
{%- endmacro %}

{% macro group_by_area(columns) -%}
    group by grouping sets (
        (district_code, street_code, community_code, {{ columns }}),
        (district_code, street_code, {{ columns }}),
        (district_code, {{ columns }})
    )
{%- endmacro %}

{# A ratio rounded to 4 places, null when the denominator is 0 or null. #}
{% macro safe_ratio(numerator, denominator, scale=1) -%}
    round(({{ numerator }})::numeric * {{ scale }} / nullif({{ denominator }}, 0), 4)::numeric(14, 4)
{%- endmacro %}
