"""`tracker serve` as a person starts it: the printed link, the refusals at start, and a server log
that holds neither the token nor any patient value (a real server in a child process)."""

from __future__ import annotations

import http.cookiejar
import re
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, subprocess_env
from tests.webkit import ORIGIN, load_examples
from tracker.config import Settings

pytest.importorskip("uvicorn")


def test_serve_refuses_any_address_but_this_computer(sqlite_url: str) -> None:
    r = Cli(sqlite_url)("serve", "--host", "0.0.0.0", "--no-browser")
    assert r.exit_code == 1
    assert r.stderr.strip() == ("Error: tracker serve listens on 127.0.0.1 only (this computer), not on '0.0.0.0'; "
                                "leave out --host")


def test_serve_without_the_web_extra_says_how_to_install_it(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn now raises ImportError
    r = Cli(sqlite_url)("serve", "--no-browser")
    assert r.exit_code == 1
    assert "install it with pip install 'pnet-tracker[web]'" in r.stderr and "Traceback" not in r.stderr


def test_a_busy_port_is_one_sentence(sqlite_url: str) -> None:
    from tracker.web import server

    sock = server.bind(server.HOST, 0)
    try:
        r = Cli(sqlite_url)("serve", "--no-browser", "--port", str(sock.getsockname()[1]))
    finally:
        sock.close()
    assert r.exit_code == 1 and "is already in use; pick another with --port" in r.stderr


@pytest.mark.slow
def test_the_server_log_holds_no_token_and_no_patient_value(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    settings = Settings(db_url=f"sqlite:///{db}", user="t")
    load_examples(settings)
    proc = subprocess.Popen([sys.executable, "-m", "tracker", "--db", str(db), "serve", "--no-browser", "--port",
                             "0", "--as-of", "2026-11-22"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=subprocess_env())
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/login\?token=[\w-]{40,}", url), url
        token = url.split("token=")[1]
        base = url.split("/login")[0]
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = opener.open(url).read().decode()
        assert "Who is using tracker?" in page
        form = opener.open(base + "/p/SYN-GROWING/log/lab").read().decode()
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        body = urllib.parse.urlencode({"csrf": csrf, "date": "2026-11-01", "analyte": "chromogranin_a",
                                       "value": "98765.4", "unit": "ng/mL", "notes": "private-note-text"}).encode()
        req = urllib.request.Request(base + "/p/SYN-GROWING/log/lab", data=body, headers={"Origin": base})
        done: Any = opener.open(req)
        assert "98765.4 ng/mL" in done.read().decode()
        opener.open(base + "/nurse/worklist?within=60&status=due&private-query-text=1").read()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert '"GET /login HTTP/1.1" 303' in err and '"POST /p/SYN-GROWING/log/lab HTTP/1.1" 303' in err
    for secret in (token, "98765.4", "private-note-text", "private-query-text", csrf):
        assert secret not in err
    assert ORIGIN in base
