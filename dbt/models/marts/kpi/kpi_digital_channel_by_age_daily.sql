{# 平台使用率 per community, street and district per day, by age group of the applicant; formulas in _kpi_by_age__models.yml. #}
{{ kpi_digital_channel_by_age('day') }}
