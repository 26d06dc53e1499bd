"""MLflow conventions shared by every stage: URI, tags, params, run lifecycle, figures."""
