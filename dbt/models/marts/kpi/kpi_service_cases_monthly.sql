{# 一次办结率、平台使用率、投诉率 per community, street and district per month; formulas in _kpi__models.yml. #}
{{ kpi_service_cases('month') }}
