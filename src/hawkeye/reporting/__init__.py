"""The report stage: reads MLflow runs back and turns them into tables and figures."""
