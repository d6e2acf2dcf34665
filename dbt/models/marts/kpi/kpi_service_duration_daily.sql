{# 办事时长 per community, street and district per day; formulas in _kpi__models.yml. #}
{{ kpi_service_duration('day') }}
