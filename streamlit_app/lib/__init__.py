"""Helpers for the dashboard: settings, snapshot access, queries and chart builders."""
