"""Plotly figure builders: frames in, figures out, no Streamlit, so they are unit-tested on their own.

One module per page family, like `queries`: `overview` (event volume, quarantine), `pipeline` (states,
owners, funnel, pipeline health, win/loss), `today` (owner workload), `sla`, `gates`; `common` holds the
palette and the helpers they share. Colours are fixed per entity type and per series so the same thing
looks the same on every page.
"""
