{# Incremental strategy `day_window` (config: incremental_strategy='day_window', day_column=...,
   lookback_days=N). Deletes the target's rows whose `day_column` lies in
   [run_day - lookback_days, run_day] and inserts the model's rows, so a rerun of a day replaces
   exactly what it built. The model's SQL must select exactly that window.

   With `input_feeds=[...]` (and no lookback_days) the window is instead every day from
   day_window_first_day(input_feeds) on: the run day, or the first day of those feeds whose
   delivery changed since the model was last built (a verdict, a reload), if earlier. For models
   whose rows of day D read the feeds' deliveries of days up to D (the latest usable snapshot on
   or before D): a day's delivery can change the rows of every later day, never of an earlier one.
   Such a model filters its rows with `day_column >= day_window_first_day(input_feeds)` when
   is_incremental(), and remembers the deliveries it built from in `<model>__day_window_inputs`
   (feed, day, usable, last load) with the post-hook day_window_remember_inputs(input_feeds), in
   the model's transaction (a failed build remembers nothing). #}
{% macro get_incremental_day_window_sql(arg_dict) %}
    {%- set day_column = config.require('day_column') -%}
    {%- set input_feeds = config.get('input_feeds') -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- if input_feeds -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ day_column }} >= {{ day_window_first_day(input_feeds) }};

    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }};
    {%- else -%}
    {%- set lookback_days = config.require('lookback_days') -%}
    delete from {{ arg_dict['target_relation'] }}
    where {{ day_column }} between {{ run_day() }} - {{ lookback_days }} and {{ run_day() }};

    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }};
    {%- endif -%}
{% endmacro %}

{% macro day_window_inputs_relation() -%}
    {{ return(this.incorporate(path={'identifier': this.identifier ~ '__day_window_inputs'})) }}
{%- endmacro %}

{# The deliveries of `feeds` as int_feed_days_assessed sees them in this build. #}
{% macro day_window_inputs(feeds) -%}
    select feed, delivery_date, is_usable, last_loaded_at
    from {{ ref('int_feed_days_assessed') }}
    where feed in ({% for feed in feeds %}'{{ feed }}'{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}

{# The first day an incremental run of a day_window model with input_feeds rebuilds: the run
   day, or the first day of a delivery of `feeds` that differs from what the model was last built
   from (usable or not, its last load), if earlier. Everything (-infinity) when the model has no
   record of its inputs yet. #}
{% macro day_window_first_day(feeds) -%}
    {%- set inputs = day_window_inputs_relation() -%}
    {%- if execute and load_relation(inputs) is none -%}
    date '-infinity'
    {%- else -%}
    least({{ run_day() }}, (
        select min(coalesce(now_seen.delivery_date, built_from.delivery_date))
        from ({{ day_window_inputs(feeds) }}) as now_seen
        full join {{ inputs }} as built_from
            on now_seen.feed = built_from.feed and now_seen.delivery_date = built_from.delivery_date
        where
            now_seen.feed is null
            or built_from.feed is null
            or now_seen.is_usable is distinct from built_from.is_usable
            or now_seen.last_loaded_at is distinct from built_from.last_loaded_at
    ))
    {%- endif -%}
{%- endmacro %}

{% macro day_window_remember_inputs(feeds) -%}
    {%- set inputs = day_window_inputs_relation() -%}
    create table if not exists {{ inputs }} (
        feed text not null, delivery_date date not null, is_usable boolean, last_loaded_at timestamptz
    );
    delete from {{ inputs }};
    insert into {{ inputs }} (feed, delivery_date, is_usable, last_loaded_at)
    {{ day_window_inputs(feeds) }};
{%- endmacro %}
