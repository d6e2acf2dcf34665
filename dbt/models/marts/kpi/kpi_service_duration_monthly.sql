{# 办事时长 per community, street and district per month; formulas in _kpi__models.yml. #}
{{ kpi_service_duration('month') }}
