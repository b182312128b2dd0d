"""The dashboard's pages and their sections, as data: `app.py` turns them into `st.Page`s.

Kept apart from the router so that who sees which page is a plain function, testable without a run:
the Access page is listed (in an "Admin" section) for admins only. For everyone else it is still
registered, hidden, so that opening its URL runs the page and shows its refusal instead of silently
landing elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class PageSpec:
    path: str  # relative to streamlit_app/, as `st.Page` takes it
    title: str
    icon: str
    url_path: str
    visibility: Literal["visible", "hidden"] = "visible"
    default: bool = False  # served at "/"


SECTIONS: dict[str, tuple[PageSpec, ...]] = {
    "Work": (
        # The default page: the analyst's first question is what to do now.
        PageSpec("app_pages/today.py", "Today", ":material/today:", "today", default=True),
        PageSpec("app_pages/owner_workload.py", "Owner workload", ":material/group:", "owner-workload"),
        PageSpec("app_pages/sla_compliance.py", "SLA compliance", ":material/timer:", "sla-compliance"),
        PageSpec("app_pages/memory.py", "Memory", ":material/psychology:", "memory"),
        PageSpec("app_pages/contacts.py", "Contacts", ":material/contacts:", "contacts"),
        PageSpec("app_pages/identity.py", "Identity", ":material/join:", "identity"),
        # Opened from a row's link, with the item in the URL.
        PageSpec("app_pages/item.py", "Item", ":material/description:", "item", "hidden"),
    ),
    "Pipeline": (
        PageSpec("app_pages/overview.py", "Overview", ":material/insights:", "overview"),
        PageSpec(
            "app_pages/funnel_velocity.py", "Funnel velocity", ":material/filter_alt:", "funnel-velocity"
        ),
        PageSpec("app_pages/pipeline.py", "Pipeline", ":material/account_tree:", "pipeline"),
        PageSpec(
            "app_pages/pipeline_health.py", "Pipeline health", ":material/monitor_heart:", "pipeline-health"
        ),
        PageSpec("app_pages/win_loss.py", "Win/loss", ":material/emoji_events:", "win-loss"),
    ),
    # Engineering pages, apart from the analyst's.
    "Engineering": (
        PageSpec("app_pages/data_quality.py", "Data quality", ":material/rule:", "data-quality"),
        PageSpec("app_pages/quality_gates.py", "Quality gates", ":material/verified:", "quality-gates"),
        PageSpec("app_pages/outbox_health.py", "Outbox health", ":material/outbox:", "outbox-health"),
    ),
}
ACCESS = PageSpec("app_pages/access.py", "Access", ":material/admin_panel_settings:", "access")
ADMIN_SECTION = "Admin"


def sections_for(is_admin: bool) -> dict[str, list[PageSpec]]:
    """The navigation of a user: every data page, and the Access page listed for admins only."""
    sections = {name: list(pages) for name, pages in SECTIONS.items()}
    if is_admin:
        sections[ADMIN_SECTION] = [ACCESS]
    else:
        sections["Engineering"].append(
            PageSpec(ACCESS.path, ACCESS.title, ACCESS.icon, ACCESS.url_path, "hidden")
        )
    return sections
