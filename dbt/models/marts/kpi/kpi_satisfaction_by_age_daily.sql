{# 群众满意度 per community, street and district per day, by age group of the respondent; formulas in _kpi_by_age__models.yml. #}
{{ kpi_satisfaction_by_age('day') }}
