{# The risk-scoring features of every resident as of each day of fct_resident_features, one
   number per feature, each pointing towards need (a higher value means more need); the scoring
   DAG reads one as_of_date and only scales and clusters them. A view, not the core folder's
   table: it derives each day from the history fct_resident_features keeps, so every
   as_of_date stays readable without a second copy, and scoring an earlier day again reads the
   same features. Formulas and the vars they use in _core__models.yml. #}
{{ config(materialized='view') }}
with

residents as (

    select * from {{ ref('fct_resident_features') }}

),

final as (

    select
        as_of_date,
        person_key,
        community_code,
        grid_code,
        coalesce(age, 0)::float8 as age,
        coalesce(on_assistance, false)::integer::float8 as on_assistance,
        coalesce(assistance_amount, 0)::float8 as assistance_amount,
        case
            when coalesce(age, 0) >= {{ var('pension_age') }}
                then greatest(0, {{ var('pension_reference_yuan') }} - coalesce(pension_monthly, 0))
            else 0
        end::float8 as pension_shortfall,
        coalesce(attention_level, 0)::float8 as attention_level,
        coalesce(lives_alone, false)::integer::float8 as lives_alone,
        coalesce(has_chronic_disease, false)::integer::float8 as has_chronic_disease,
        case when disability_grade between 1 and 4 then 5 - disability_grade else 0 end::float8
            as disability_severity,
        coalesce(recent_incidents, 0)::float8 as recent_incidents,
        coalesce(recent_complaints, 0)::float8 as recent_complaints
    from residents

)

select * from final
