{# 群众满意度 per community, street and district per day; formulas in _kpi__models.yml. #}
{{ kpi_satisfaction('day') }}
