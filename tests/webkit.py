"""Helpers shared by the web tests: a database with the synthetic examples, a logged-in client,
and a snapshot of everything stored (to prove a refused request changed nothing)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

from tests.conftest import EXAMPLES
from tracker.config import Settings

#: the date the web tests evaluate as of (the demo's date: SYN-GROWING has open flags and overdue items)
TODAY = date(2026, 11, 22)
ORIGIN = "http://127.0.0.1"


def load_examples(settings: Settings, names: tuple[str, ...] = ("syn-growing.json",)) -> None:
    from tracker.services.files import import_file

    for name in names:
        import_file(settings, EXAMPLES / name, today=TODAY)


def snapshot(settings: Settings) -> tuple[str, int, int]:
    """Every stored record, the length of the audit trail and of the flag reviews."""
    from tracker.services.files import export
    from tracker.services.records import audit_trail
    from tracker.services.surveillance import flag_history

    reviews = sum(len(f["reviews"]) for f in flag_history(settings, None))
    return export(settings, None, fmt="json"), len(audit_trail(settings, None)), reviews


def client(settings: Settings, *, max_body: int | None = None, login: bool = True) -> Any:
    """A TestClient on the app for `settings`, logged in through the single-use link unless told not."""
    from starlette.testclient import TestClient

    from tracker.web import security
    from tracker.web.app import create_app

    sessions = security.Sessions()
    kw = {"max_body": max_body} if max_body else {}
    c = TestClient(create_app(settings, sessions=sessions, as_of=TODAY, **kw), base_url=ORIGIN,
                   headers={"origin": ORIGIN})
    c.sessions = sessions  # type: ignore[attr-defined]
    c.login_token = sessions.token  # type: ignore[attr-defined]
    if login:
        r = c.get(f"/login?token={sessions.token}", follow_redirects=False)
        assert r.status_code == 303, r.text
    return c


def csrf(c: Any) -> str:
    from tracker.web import security

    token = c.sessions.csrf(c.cookies.get(security.COOKIE))
    assert token
    return str(token)


@contextlib.contextmanager
def running_server(settings: Settings) -> Iterator[tuple[str, Any]]:
    """A real uvicorn server over `settings` on a free loopback port, in a thread: yields the login
    link and the server's `Sessions` (a test may arm a new token), and stops it afterwards."""
    import threading

    from tracker.web import security, server

    sessions = security.Sessions()
    sock = server.bind(server.HOST, 0)
    srv, url = server.make_server(settings, sock, as_of=TODAY, sessions=sessions)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    try:
        yield url, sessions
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()
