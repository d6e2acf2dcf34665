{# 问题发现率 per community, street and district per month; formulas in _kpi__models.yml. #}
{{ kpi_proactive_discovery('month') }}
