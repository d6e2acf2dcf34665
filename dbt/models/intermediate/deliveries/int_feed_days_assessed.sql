{# One row per feed and day of the warehouse's calendar (first to last day in the load ledger):
   what was delivered, whether its latest load passed the feed's fail-severity checks, and so
   whether the warehouse builds from it. Statuses, in order of precedence:
   - missing: nothing recorded for the feed and day (no file, no attempt);
   - not_loaded: attempts recorded but no file loaded (missing at the deadline, failed, rejected);
   - unvalidated: loaded, but no feed validation after the latest load;
   - failed_checks: the latest validation failed a fail-severity check (reason names them);
   - usable: loaded and passed. Only usable deliveries reach facts, dims and KPIs.
   The latest validation's id is not kept: a rerun validates again, and a rerun leaves the
   warehouse's tables as they were (audit.latest_validation holds it by feed and day). #}
with

batches as (

    select * from {{ ref('stg_meta__load_batches') }}

),

validations as (

    select * from {{ ref('stg_audit__validation_runs') }}
    where validation_kind = 'feed'

),

check_results as (

    select * from {{ ref('stg_audit__check_results') }}

),

feeds as (

    select unnest(array[
        {%- for feed in feed_names() %}'{{ feed }}'{% if not loop.last %}, {% endif %}{% endfor -%}
    ]::text[]) as feed

),

calendar as (

    select generated_day::date as delivery_date
    from generate_series(
        (select min(delivery_date) from batches),
        (select max(delivery_date) from batches),
        interval '1 day'
    ) as generated_day

),

deliveries as (

    select
        feed,
        delivery_date,
        count(*) filter (where batch_status = 'loaded') as files_loaded,
        count(*) filter (where batch_status not in ('loaded', 'duplicate')) as files_not_loaded,
        coalesce(sum(rows_loaded) filter (where batch_status = 'loaded'), 0) as rows_loaded,
        max(loaded_at) filter (where batch_status = 'loaded') as last_loaded_at,
        max(loaded_at) as last_attempt_at,
        string_agg(
            batch_status || coalesce(' (' || batch_rule || ')', ''), ', ' order by batch_id
        ) filter (where batch_status not in ('loaded', 'duplicate')) as not_loaded_reason
    from batches
    where batch_status <> 'superseded'
    group by feed, delivery_date

),

latest_validations as (

    select distinct on (validation_target, delivery_date)
        validation_id,
        validation_target as feed,
        delivery_date,
        is_success,
        checked_at
    from validations
    order by validation_target, delivery_date, checked_at desc, validation_id desc

),

failed_checks as (

    select
        validation_id,
        string_agg(check_id || coalesce(': ' || detail, ''), '; ' order by check_id) as failed_checks
    from check_results
    where not is_success and severity = 'fail'
    group by validation_id

),

assessed as (

    select
        feeds.feed,
        calendar.delivery_date,
        coalesce(deliveries.files_loaded, 0)::integer as files_loaded,
        coalesce(deliveries.rows_loaded, 0)::bigint as rows_loaded,
        case
            when deliveries.feed is null then 'missing'
            when deliveries.files_loaded = 0 then 'not_loaded'
            when latest_validations.validation_id is null
                or latest_validations.checked_at < deliveries.last_loaded_at then 'unvalidated'
            when not latest_validations.is_success then 'failed_checks'
            else 'usable'
        end as delivery_status,
        case
            when deliveries.feed is null then 'no delivery recorded'
            {# The validation's failed checks name the check and the column (delivery.loaded,
               delivery.files_complete …) when it ran after the latest attempt; else the ledger's. #}
            when deliveries.files_loaded = 0 then coalesce(
                case when latest_validations.checked_at >= deliveries.last_attempt_at then failed_checks.failed_checks end,
                deliveries.not_loaded_reason,
                'no file loaded'
            )
            when latest_validations.validation_id is null
                or latest_validations.checked_at < deliveries.last_loaded_at then 'not validated since its last load'
            when not latest_validations.is_success then coalesce(failed_checks.failed_checks, 'a fail check failed')
        end as reason,
        latest_validations.validation_id,
        deliveries.last_loaded_at
    from feeds
    cross join calendar
    left join deliveries
        on feeds.feed = deliveries.feed
        and calendar.delivery_date = deliveries.delivery_date
    left join latest_validations
        on feeds.feed = latest_validations.feed
        and calendar.delivery_date = latest_validations.delivery_date
    left join failed_checks
        on latest_validations.validation_id = failed_checks.validation_id

),

final as (

    select
        feed,
        delivery_date,
        delivery_status,
        delivery_status = 'usable' as is_usable,
        reason,
        files_loaded,
        rows_loaded,
        last_loaded_at
    from assessed

)

select * from final
