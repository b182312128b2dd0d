"""Dashboard page loads through Streamlit's test harness (AppTest) on a published snapshot.

Each page is loaded cold (a fresh AppTest: no Streamlit cache) several times; the median and the worst
are printed. Usage: python -m benchmarks.pages HOME [PAGE ...]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parent.parent / "streamlit_app" / "app.py"
DEFAULT_PAGES = ("today", "sla_compliance")


def load_times(home: Path, page: str, repeats: int = 5) -> dict:
    os.environ["WORKSTREAM_HOME"] = str(home)
    times = []
    for _ in range(repeats):
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.run()  # the router and the default page
        started = time.perf_counter()
        at.switch_page(f"app_pages/{page}.py").run()
        times.append(time.perf_counter() - started)
        errors = [e.value for e in at.exception]
        if errors:
            raise SystemExit(f"{page}: {errors[0]}")
    return {"page": page, "median_s": statistics.median(times), "max_s": max(times), "repeats": repeats}


if __name__ == "__main__":
    home = Path(sys.argv[1])
    results = [load_times(home, page) for page in (sys.argv[2:] or DEFAULT_PAGES)]
    for r in results:
        print(
            f"page {r['page']:<16} median {r['median_s']:.2f} s, worst {r['max_s']:.2f} s over {r['repeats']} cold loads"
        )
    print(json.dumps(results))
