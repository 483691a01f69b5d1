"""The application factory: routes of the patient and nurse pages, templates, static files, the
error pages, and the security layer (`security.Guard`) around all of it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from tracker.config import Settings
from tracker.errors import NotFoundError, TrackerError
from tracker.web import security, words

HERE = Path(__file__).resolve().parent
_ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d")


def unbroken_dates(text: Any) -> Markup:
    """The text, escaped, with every ISO date kept on one line (a phone would break 2026-\n04-08)."""
    return Markup(_ISO_DATE.sub(lambda m: f'<span class="date">{m.group(0)}</span>', str(escape(text))))


class Web:
    """What every page needs: the database settings, today's date, the templates."""

    def __init__(self, settings: Settings, *, as_of: date | None = None) -> None:
        self.settings = settings
        self._as_of = as_of
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals.update(words=words, csrf_field=security.CSRF_FIELD)
        self.templates.env.filters["dates"] = unbroken_dates

    def today(self) -> date:
        """The as-of date of `tracker serve --as-of`, or today."""
        return self._as_of or date.today()

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        context.setdefault("today", self.today())
        context["csrf"] = request.scope.get("state", {}).get("csrf", "")
        return self.templates.TemplateResponse(request, template, context, status_code=status)


def create_app(settings: Settings, *, sessions: security.Sessions, as_of: date | None = None,
               max_body: int = security.MAX_BODY_BYTES) -> security.Guard:
    """The whole application for one database, behind the security checks."""
    from tracker.web import nurse, patient

    web = Web(settings, as_of=as_of)

    def bind(handler: Callable[..., Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await handler(web, request)

        return endpoint

    async def login(request: Request) -> Response:
        sid = sessions.redeem(request.query_params.get("token", ""))
        if sid is None:
            return PlainTextResponse("This link has already been used or is not right: open the link that "
                                     "`tracker serve` printed, or restart it for a new one.", status_code=403)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(security.COOKIE, sid, httponly=True, samesite="strict", path="/")
        return response

    async def index(request: Request) -> Response:
        from tracker.services.records import list_patients

        return web.page(request, "index.html", patients=list_patients(settings))

    async def tracker_error(request: Request, exc: Exception) -> Response:
        status = 404 if isinstance(exc, NotFoundError) else 400
        return web.page(request, "error.html", status=status, message=str(exc))

    routes = [
        Route("/login", login),
        Route("/", index),
        *[Route(path, bind(handler), methods=methods) for path, handler, methods in (*patient.ROUTES, *nurse.ROUTES)],
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={TrackerError: tracker_error})
    return security.Guard(app, sessions, max_body=max_body)
