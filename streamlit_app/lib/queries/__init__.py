"""Every question the dashboard asks the snapshot, one cached function per question, one module per
page family: `snapshot` (the snapshot being read, time travel, the org list, read errors), `overview`
(event volume and data quality), `pipeline` (lifecycle, funnel, pipeline health, win/loss), `today`
(Today panel and owner workload), `sla` (SLA compliance and alerts), `gates` (quality gates), `outbox`
(outbox health), `memory` and `periods` (the analyst pages' KPIs for one period); `common` holds what
they share. Pages import the family they show and
never hold SQL themselves (tests/streamlit/test_layout.py checks it).

Rules that keep tenants apart and caches honest:
- SQL is parameterised (`?`), never formatted; user input only ever travels as a parameter.
- Every function takes `org_id` and filters on it. The org list is the one exception: it is how an
  org gets chosen.
- Cache keys are (snapshot path, snapshot version, org, filters). A new publish changes the version,
  so stale results are never served; different test files never share entries. The TTL only bounds
  memory. The version itself is read once per file identity (inode/size/mtime), so checking it on
  each rerun costs one `stat`.
- Metrics come from the marts as published; these modules sum and filter them, they never re-derive
  business logic.
"""
