"""The pipeline's DuckDB warehouse: connections, the raw schema, the writer lock, the build clock."""
