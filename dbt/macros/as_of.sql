{#-
  The as-of time as a SQL TIMESTAMPTZ literal, from the required var `as_of`
  (an RFC 3339 / ISO-8601 timestamp with offset, e.g. 2026-11-27T17:00:00+00:00).
  While parsing (execute = false) a placeholder is used so `dbt parse` needs no vars.
-#}
{% macro as_of() -%}
    {%- set raw_value = var('as_of', none) -%}
    {%- if raw_value is none or (raw_value | string | trim) == '' -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error(
                "var 'as_of' is required, e.g. --vars '{\"as_of\": \"2026-11-27T17:00:00+00:00\"}'"
            ) }}
        {%- endif -%}
        {%- set raw_value = '9999-12-31T23:59:59+00:00' -%}
    {%- endif -%}
    {#- An unquoted YAML timestamp arrives as a datetime; its str() form is accepted too. -#}
    {%- set value = raw_value | string | trim -%}
    {%- set pattern = '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$' -%}
    {%- if not modules.re.match(pattern, value) -%}
        {{ exceptions.raise_compiler_error(
            "var 'as_of' must be a timestamp with offset like 2026-11-27T17:00:00+00:00, got: " ~ value
        ) }}
    {%- endif -%}
    cast('{{ value }}' as timestamptz)
{%- endmacro %}
