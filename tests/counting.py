"""A DuckDB connection that keeps the statements run on it: tests of the work a step does per row (one
statement for a thousand rows, not a thousand statements) count them instead of timing them."""

from __future__ import annotations


class CountingConnection:
    def __init__(self, con):
        self.con, self.statements = con, []

    def execute(self, sql, *args):
        self.statements.append(sql)
        return self.con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.con, name)
