"""SLA alerting: breaches from the clocks dbt computes, delivered through the outbox."""
