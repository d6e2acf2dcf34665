{# loaded_at_query of every feed source: "loaded at" is the current time minus the days between
   the partition day (run_day()) and the feed's last delivered day up to it (a file loaded, re-sent
   or superseded, as the load ledger records it; a missing, failed or rejected day is no delivery).
   dbt's age (now - loaded at) is then the lag in days of the feed behind the partition day,
   whatever the clock says: the demo's historical day, a backfill and today are judged alike.
   A feed never delivered up to the day gives null, which dbt reads as infinitely old. #}
{% macro feed_day_freshness() -%}
    select current_timestamp - ({{ run_day() }} - max(b.ds)) * interval '1 day'
    from meta.load_batch as b
    where b.feed = '{{ model.source_name }}'
      and b.ds <= {{ run_day() }}
      and b.status in ('loaded', 'duplicate', 'superseded')
{%- endmacro %}
