{#-
  Incremental models over the apply's entity clusters.

  The apply replaces the core rows of whole clusters and records each replaced cluster in
  `core.cluster_changes` under an increasing write number (`seq`). A model that keeps one cluster's rows
  from one cluster's core rows can then be rebuilt for the changed clusters only:

      {{ config(
          materialized='incremental',
          incremental_strategy='append',
          pre_hook="{{ drop_changed_clusters() }}",
          post_hook="{{ mark_clusters_taken() }}",
      ) }}
      -- depends_on: {{ ref('stg_lifecycle__cluster_changes') }}
      select ... from {{ ref('stg_...') }} as rows
      {% if is_incremental() %} where {{ in_changed_clusters('rows') }} {% endif %}

  * The pre-hook deletes the stored rows of every cluster written since the model's last build (absorbed
    and emptied clusters included, so their rows leave), the model appends those clusters' rows anew, and
    the post-hook records the last write number taken in. dbt runs both hooks in the model's transaction,
    so a failed build leaves the rows and the mark as they were and the next build takes the same
    clusters again.
  * The marks live in `incremental_state.marks` (one row per model), created by `on-run-start`. A model
    without a mark (new, or after a full refresh of another model only) takes every recorded cluster.
  * `dbt build --full-refresh` rebuilds every row from the core tables and gives the same rows.
  * Only the apply writes the core tables and it holds the warehouse's writer lock, as the dbt build does,
    so no write lands between the model's read of the changes and its mark.
-#}

{% macro incremental_marks_relation() -%}
    incremental_state.marks
{%- endmacro %}


{% macro create_incremental_marks() -%}
    create schema if not exists incremental_state;
    create table if not exists {{ incremental_marks_relation() }} (
        model varchar primary key,
        seq bigint not null
    );
{%- endmacro %}


{% macro last_taken_seq() -%}
    coalesce(
        (select seq from {{ incremental_marks_relation() }} where model = '{{ this.identifier }}'),
        0
    )
{%- endmacro %}


{% macro changed_clusters() -%}
    (
        select distinct org_id, cluster_id
        from {{ ref('stg_lifecycle__cluster_changes') }}
        where seq > {{ last_taken_seq() }}
    )
{%- endmacro %}


{% macro in_changed_clusters(alias) -%}
    exists (
        select 1 from {{ changed_clusters() }} as changed
        where changed.org_id = {{ alias }}.org_id and changed.cluster_id = {{ alias }}.cluster_id
    )
{%- endmacro %}


{% macro drop_changed_clusters() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as stored where {{ in_changed_clusters('stored') }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{% macro mark_clusters_taken() -%}
    insert or replace into {{ incremental_marks_relation() }}
    select '{{ this.identifier }}', coalesce(max(seq), 0) from {{ ref('stg_lifecycle__cluster_changes') }}
{%- endmacro %}
