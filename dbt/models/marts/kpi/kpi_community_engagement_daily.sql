{# 参与率、协商事项解决率 per community, street and district per day; formulas in _kpi__models.yml. #}
{{ kpi_community_engagement('day') }}
