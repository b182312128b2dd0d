"""`/docs`: Swagger UI served from the installed `fastapi-offline` package, never from a CDN.

The page and its assets come from this process, so the docs work offline and a browser opening them
talks to no other host; the Content-Security-Policy header holds the page to that. Swagger UI's
online validator (which would send the OpenAPI document to an outside service) is off.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

# The Swagger UI 5 files the package ships (version 4 cannot render the OpenAPI 3.1 FastAPI writes).
ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# FastAPI's page has one inline script (the Swagger UI set-up) and Swagger UI inlines styles and images.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}


def mount_docs(app: FastAPI) -> None:
    """Add `/docs`, its assets and the OAuth2 redirect page to `app` (created with `docs_url=None`)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="swagger-ui")

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=OAUTH2_REDIRECT_URL,
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
        )
        page.headers.update(HEADERS)
        return page

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        page = get_swagger_ui_oauth2_redirect_html()
        page.headers.update(HEADERS)
        return page
