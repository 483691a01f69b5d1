"""The checks every request passes, for a server on the person's own machine (after Jupyter's token
login and Datasette's `--root` link):

- the Host header must name this machine (a loopback name or address): a page on another site
  cannot reach the server through DNS rebinding;
- the printed link carries a random single-use token; opening it sets an HttpOnly,
  SameSite=Strict session cookie, and every other request without that session gets 403 (the
  stylesheet aside);
- every POST must come from this server's own pages: its Origin must be the server's and its
  form must carry the session's CSRF token; its body may not exceed the upload limit;
- every response carries Content-Security-Policy `default-src 'self'` (no inline script, nothing
  from elsewhere), no CORS header, and is not cached.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "tracker_session"
CSRF_FIELD = "csrf"
LOGIN_PATH = "/login"
#: the stylesheet, served without a session (so that the 403 page is readable; it holds no patient data)
STATIC_PREFIX = "/static/"
#: the largest request body accepted (an upload of a clinic's JSON export or lab CSV)
MAX_BODY_BYTES = 20 * 1024 * 1024
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

HEADERS = [
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),  # not no-referrer: that would make a form's Origin "null"
    (b"cache-control", b"no-store"),
]


def is_loopback_host(host: str) -> bool:
    """True for a Host header naming this machine: localhost, 127.x.x.x or [::1], with any port."""
    host = host.strip().lower()
    if not host:
        return False
    if host.startswith("["):
        name = host[1:host.find("]")] if "]" in host else ""
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Sessions:
    """The single-use login token and the sessions it opened (in memory: a restart logs out)."""

    def __init__(self, token: str | None = None) -> None:
        self.token: str | None = token or secrets.token_urlsafe(32)
        self._csrf: dict[str, str] = {}

    def redeem(self, token: str) -> str | None:
        """A new session id for the right token, once; None for any other token or a second use."""
        if self.token is None or not secrets.compare_digest(token.encode(), self.token.encode()):
            return None
        self.token = None
        sid = secrets.token_urlsafe(32)
        self._csrf[sid] = secrets.token_urlsafe(32)
        return sid

    def csrf(self, sid: str | None) -> str | None:
        """The CSRF token of a session, None when the session does not exist."""
        return self._csrf.get(sid) if sid else None


async def _respond(send: Send, status: int, text: str) -> None:
    body = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{status}</title>"
            f"<link rel=stylesheet href=/static/style.css><main><h1>Not allowed</h1><p>{text}</p></main>").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *HEADERS]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return v.decode("latin-1")
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    from http.cookies import SimpleCookie

    raw = _header(scope, b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed cookie header is no session
        return None
    return jar[name].value if name in jar else None


class Guard:
    """ASGI middleware: every check of the module docstring, before the application sees the request."""

    def __init__(self, app: ASGIApp, sessions: Sessions, *, max_body: int = MAX_BODY_BYTES) -> None:
        self.app, self.sessions, self.max_body = app, sessions, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host") or ""
        if not is_loopback_host(host):
            await _respond(send, 400, "This server answers only to addresses of this computer, such as "
                                      "127.0.0.1; open the link that <code>tracker serve</code> printed.")
            return
        if scope["method"] == "GET" and (scope["path"] == LOGIN_PATH or scope["path"].startswith(STATIC_PREFIX)):
            await self.app(scope, receive, _with_headers(send))
            return
        sid = _cookie(scope, COOKIE)
        csrf = self.sessions.csrf(sid)
        if csrf is None:
            await _respond(send, 403, "Open the link that <code>tracker serve</code> printed in the terminal "
                                      "(it works once); to get a new link, stop the server and start it again.")
            return
        scope.setdefault("state", {})["csrf"] = csrf
        if scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, _with_headers(send))
            return
        if _header(scope, b"origin") != f"http://{host}":
            await _respond(send, 403, "This form was not sent from a page of this server; reload the page "
                                      "and send it again.")
            return
        body = await _read_body(receive, self.max_body)
        if body is None:
            await _respond(send, 413, f"The file is larger than {self.max_body // (1024 * 1024) or 1} MB; "
                                      "split it into smaller files and import each.")
            return
        if not await _csrf_ok(scope, body, csrf):
            await _respond(send, 403, "This form has expired; reload the page and send it again.")
            return
        await self.app(scope, _replay(body), _with_headers(send))


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it exceeds `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _csrf_ok(scope: Scope, body: bytes, csrf: str) -> bool:
    from starlette.requests import Request

    try:
        form = await Request(scope, _replay(body)).form()
    except Exception:  # a body that is no form carries no token
        return False
    try:
        given = form.get(CSRF_FIELD)
        return isinstance(given, str) and secrets.compare_digest(given.encode(), csrf.encode())
    finally:
        await form.close()  # uploads are read again by the page


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            have = {k.lower() for k, _ in message.get("headers", [])}
            message["headers"] = [*message.get("headers", []), *(h for h in HEADERS if h[0] not in have)]
        await send(message)

    return wrapped
