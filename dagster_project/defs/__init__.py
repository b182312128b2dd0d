"""Dagster definitions by concern: ingestion, transformation (dbt), publishing, automation."""
