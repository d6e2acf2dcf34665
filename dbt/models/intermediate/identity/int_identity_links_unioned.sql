{# Every delivered row that names a person, linked to a person_key: directly by the keyed ID
   number where the feed has one, through the case for approval steps, and by the matching
   rules of int_participants_matched / int_complaint_callers_matched where it has none. #}
with

residents as (

    select * from {{ ref('stg_population_registry__residents') }}

),

assistance as (

    select * from {{ ref('stg_social_assistance__cases') }}

),

pensions as (

    select * from {{ ref('stg_pension_insurance__pensions') }}

),

health as (

    select * from {{ ref('stg_health_records__health_records') }}

),

disability as (

    select * from {{ ref('stg_disability_registry__certificates') }}

),

cases as (

    select * from {{ ref('stg_service_applications__cases') }}

),

steps as (

    select * from {{ ref('stg_approval_steps__steps') }}

),

incidents as (

    select * from {{ ref('stg_grid_incidents__incidents') }}

),

surveys as (

    select * from {{ ref('stg_satisfaction_surveys__responses') }}

),

callers as (

    select * from {{ ref('int_complaint_callers_matched') }}

),

participants as (

    select * from {{ ref('int_participants_matched') }}

),

{# The one place identity needs a file name: links are reported per delivered file and line. #}
load_batches as (

    select * from {{ ref('stg_meta__load_batches') }}

),

case_applicants as (

    select distinct on (case_id)
        case_id,
        applicant_person_key
    from cases
    order by case_id, delivery_date desc, batch_id desc

),

{% set keyed = [
    ('population_registry', 'residents', 'person_key', 'resident'),
    ('social_assistance', 'assistance', 'person_key', 'beneficiary'),
    ('pension_insurance', 'pensions', 'person_key', 'insured'),
    ('health_records', 'health', 'person_key', 'patient'),
    ('disability_registry', 'disability', 'person_key', 'certificate_holder'),
    ('service_applications', 'cases', 'applicant_person_key', 'applicant'),
    ('grid_incidents', 'incidents', 'reporter_person_key', 'reporter'),
    ('satisfaction_surveys', 'surveys', 'respondent_person_key', 'respondent'),
] %}
{% set day_columns = {'residents': 'snapshot_date', 'pensions': 'snapshot_date', 'health': 'snapshot_date',
                      'disability': 'snapshot_date'} %}

linked_by_id_number as (

    {% for feed, cte, key, role in keyed %}
    select
        '{{ feed }}' as feed,
        '{{ role }}' as person_role,
        {{ day_columns.get(cte, 'delivery_date') }} as delivery_date,
        batch_id,
        row_no,
        {{ key }} as person_key,
        'id_number' as match_method,
        1.00::numeric(3, 2) as match_confidence
    from {{ cte }}
    where {{ key }} is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

linked_through_case as (

    select
        'approval_steps' as feed,
        'applicant' as person_role,
        steps.delivery_date,
        steps.batch_id,
        steps.row_no,
        case_applicants.applicant_person_key as person_key,
        case
            when case_applicants.applicant_person_key is null then 'unmatched' else 'via_case'
        end as match_method,
        case
            when case_applicants.applicant_person_key is null then 0.00 else 1.00
        end::numeric(3, 2) as match_confidence
    from steps
    left join case_applicants
        on steps.case_id = case_applicants.case_id

),

linked_by_matching as (

    select
        'hotline_complaints' as feed,
        'caller' as person_role,
        delivery_date,
        batch_id,
        row_no,
        person_key,
        match_method,
        match_confidence
    from callers
    union all
    select
        'community_participation' as feed,
        'participant' as person_role,
        delivery_date,
        batch_id,
        row_no,
        person_key,
        match_method,
        match_confidence
    from participants

),

unioned as (

    select * from linked_by_id_number
    union all
    select * from linked_through_case
    union all
    select * from linked_by_matching

),

final as (

    select
        unioned.feed,
        unioned.person_role,
        unioned.delivery_date,
        load_batches.file_name,
        unioned.row_no,
        unioned.person_key,
        unioned.match_method,
        unioned.match_confidence
    from unioned
    inner join load_batches
        on unioned.batch_id = load_batches.batch_id

)

select * from final
