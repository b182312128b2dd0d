"""`/docs` is Swagger UI served by the API itself: no CDN, no other host, and public."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from fastapi.testclient import TestClient

from dagster_project.api import create_app
from tests.api.access_helpers import CLOCK


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def _page(tmp_path) -> tuple[TestClient, str]:
    client = TestClient(create_app(tmp_path, clock=CLOCK))
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    return client, r.text


def test_the_docs_page_loads_swagger_ui_from_this_api_and_names_no_other_host(tmp_path):
    client, html = _page(tmp_path)
    links = _Links()
    links.feed(html)
    assert links.urls, "the page links its script and style"
    for url in links.urls:
        assert url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200 and asset.content, url
    assert not re.search(r"(https?:)?//[a-z0-9]", html, flags=re.I), "the page names another host"
    assert any(u.endswith("swagger-ui-bundle.js") for u in links.urls)
    assert any(u.endswith("swagger-ui.css") for u in links.urls)
    # Swagger UI would otherwise post the OpenAPI document to an online validator.
    assert '"validatorUrl": null' in html
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_the_docs_page_tells_the_browser_to_load_nothing_from_elsewhere(tmp_path):
    client, _html = _page(tmp_path)
    csp = client.get("/docs").headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    for name in ("script-src", "style-src", "img-src", "connect-src"):
        assert "http" not in directives[name] and "*" not in directives[name], name
