{# 资金使用效率、人员配置合理性 per community, street and district per day; formulas in _kpi__models.yml. #}
{{ kpi_community_resources('day') }}
