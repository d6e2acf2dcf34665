{# Suite evaluations (feeds' staging days and marts' unpublished builds). Renames only. #}
with

source as (

    select * from {{ source('audit', 'validation_run') }}

),

renamed as (

    select
        validation_id,
        run_id,
        ds as delivery_date,
        kind as validation_kind,
        target as validation_target,
        success as is_success,
        failed_fail as failed_fail_checks,
        failed_warn as failed_warn_checks,
        checked_at
    from source

)

select * from renamed
