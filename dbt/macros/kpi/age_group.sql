{# The age group of a person born on `birth_date` on `day` (either may be null → unknown):
   elderly from var('elderly_age') on, the threshold the generator's truth uses. The *_by_age
   KPI tables get the age group only, never a birth date. #}
{% macro age_group(birth_date, day) -%}
    case
        when {{ birth_date }} is null then 'unknown'
        when extract(year from age({{ day }}, {{ birth_date }})) >= {{ var('elderly_age') }} then 'elderly'
        else 'under_{{ var('elderly_age') }}'
    end
{%- endmacro %}
