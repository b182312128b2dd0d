"""Identity resolution (issue 20): canonical keys, the matcher, and what the pipeline writes for dbt."""
