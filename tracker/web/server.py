"""Starting the web interface: a socket on 127.0.0.1, the printed login link, uvicorn with a log
that never holds a query string (the token) or a request body (patient values)."""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
import webbrowser
from datetime import date
from typing import Any

from tracker.config import Settings
from tracker.errors import ConfigError
from tracker.web import security

#: the only address served in this version (a clinic server is a later step)
HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class NoQuery(logging.Filter):
    """Drops the query string from uvicorn's access-log lines: `GET /login` without `?token=…`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging: server messages (warnings and worse) and an access line per request
    (method, path without query, status) on stderr; stdout stays for the link."""
    return {
        "version": 1, "disable_existing_loggers": False,
        "filters": {"no_query": {"()": NoQuery}},
        "formatters": {"plain": {"format": "%(message)s"},
                       "access": {"format": "%(asctime)s %(message)s", "datefmt": "%Y-%m-%dT%H:%M:%S"}},
        "handlers": {
            "server": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "plain"},
            "access": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "access",
                       "filters": ["no_query"]},
        },
        "loggers": {
            "uvicorn": {"handlers": ["server"], "level": "WARNING", "propagate": False},
            "uvicorn.error": {"level": "WARNING"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def check_host(host: str) -> str:
    if host not in (HOST, "localhost"):
        raise ConfigError(f"tracker serve listens on {HOST} only (this computer), not on '{host}'; "
                          "leave out --host")
    return HOST


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on the loopback address; a busy port is one sentence."""
    address = check_host(host)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} is already in use; pick another with --port (or --port 0 for any "
                              "free port)") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(64)
    return sock


def make_server(settings: Settings, sock: socket.socket, *, as_of: date | None = None,
                sessions: security.Sessions | None = None) -> tuple[Any, str]:
    """The uvicorn server over the application, and the login link (with its single-use token)."""
    import uvicorn

    from tracker.web.app import create_app

    sessions = sessions or security.Sessions()
    app = create_app(settings, sessions=sessions, as_of=as_of)
    config = uvicorn.Config(app, log_config=log_config(), access_log=True, lifespan="off",
                            server_header=False, proxy_headers=False)
    host, port = sock.getsockname()[:2]
    assert sessions.token is not None
    return uvicorn.Server(config), f"http://{host}:{port}{security.LOGIN_PATH}?token={sessions.token}"


def serve(settings: Settings, *, port: int = DEFAULT_PORT, host: str = HOST, open_browser: bool = True,
          as_of: date | None = None) -> None:
    """Serve until interrupted (Ctrl+C); print the link on stdout and open it in the browser."""
    from tracker.services.records import list_patients

    list_patients(settings)  # a database that cannot be used says so now, not on the first page
    sock = bind(host, port)
    server, url = make_server(settings, sock, as_of=as_of)
    sys.stdout.write(url + "\n")
    sys.stdout.flush()
    sys.stderr.write("Open the link above in your browser (it works once). This server answers only on this "
                     "computer. Stop it with Ctrl+C.\n")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
