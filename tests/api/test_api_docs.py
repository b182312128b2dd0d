"""`/docs` is Swagger UI served by the API itself: no CDN, no other host, and public."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
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


@pytest.mark.browser
def test_a_browser_renders_every_route_in_the_docs_without_asking_another_host(tmp_path):
    chromium = os.environ.get("WORKSTREAM_CHROMIUM", "/usr/bin/chromium")
    if not (Path(chromium).exists() or shutil.which(chromium)):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {chromium}")
        pytest.skip(f"Chromium not found at {chromium} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    app = create_app(tmp_path, clock=CLOCK)
    routes = len(TestClient(app).get("/openapi.json").json()["paths"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    elsewhere: list[str] = []
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()

            def only_here(route) -> None:
                if urlsplit(route.request.url).netloc == f"127.0.0.1:{port}":
                    route.continue_()
                else:
                    elsewhere.append(route.request.url)
                    route.abort()

            page.route("**/*", only_here)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.goto(f"http://127.0.0.1:{port}/docs")
            # Swagger UI 4 says "Unable to render this definition" for FastAPI's OpenAPI 3.1.
            expect(page.locator(".opblock")).to_have_count(routes, timeout=30_000)
            expect(page.locator(".btn.authorize")).to_be_visible()
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert elsewhere == [] and problems == []
