{#-
  The as-of time T as SQL.

  * With the var `as_of` (an RFC 3339 / ISO-8601 timestamp with offset, e.g. 2026-11-27T17:00:00+00:00),
    a TIMESTAMPTZ literal: what unit tests and hand-run builds use.
  * Without it, the run clock row the apply step writes into the warehouse before dbt runs, in the
    transaction of the core tables it describes (`core.run_clock`, see dagster_project/warehouse/store.py):
    the one stored copy of the run's as-of. The SQL text then never changes between runs, so dbt's
    partial parsing holds (a changing var forces a full re-parse) and a hand-run `dbt build` without the
    var fails loudly on a warehouse no run has applied to.
-#}
{% macro as_of() -%}
    {%- set raw_value = var('as_of', none) -%}
    {%- if raw_value is none or (raw_value | string | trim) == '' -%}
        (select as_of from core.run_clock)
    {%- else -%}
        {#- An unquoted YAML timestamp arrives as a datetime; its str() form is accepted too. -#}
        {%- set value = raw_value | string | trim -%}
        {%- set pattern = '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$' -%}
        {%- if not modules.re.match(pattern, value) -%}
            {{ exceptions.raise_compiler_error(
                "var 'as_of' must be a timestamp with offset like 2026-11-27T17:00:00+00:00, got: " ~ value
            ) }}
        {%- endif -%}
        cast('{{ value }}' as timestamptz)
    {%- endif -%}
{%- endmacro %}
