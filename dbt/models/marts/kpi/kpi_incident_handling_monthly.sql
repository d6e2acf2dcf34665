{# 处理效率 per community, street and district per month; formulas in _kpi__models.yml. #}
{{ kpi_incident_handling('month') }}
