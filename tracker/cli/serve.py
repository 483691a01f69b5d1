"""`tracker serve`: the local web interface for patients and nurses (the `web` extra)."""

from __future__ import annotations

from typing import Annotated

import typer

from tracker.cli.app import app
from tracker.cli.common import AsOfOption, as_of, note, settings
from tracker.errors import ConfigError


@app.command("serve")
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free port).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Only 127.0.0.1 (this computer) in this version.")
                    ] = "127.0.0.1",
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the link without opening a browser.")
                          ] = False,
    demo: Annotated[bool, typer.Option("--demo", help="Serve a fresh demo database of synthetic patients.")
                    ] = False,
    today: AsOfOption = None,
) -> None:
    """Open the tracker in your web browser: patients log results and see their trends, nurses work
    the worklist. It answers on this computer only and prints a link that works once.

    Example: tracker serve --demo --no-browser --port 0
    """
    try:
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
        from jinja2 import Environment  # noqa: F401
        from starlette import applications  # noqa: F401
    except ImportError:
        raise ConfigError("the web interface is not installed; install it with pip install 'pnet-tracker[web]'"
                          ) from None
    from tracker import config
    from tracker.web import server

    when = as_of(today) if today else None
    st = settings(ctx)
    if demo:
        from tracker.services.demo import fresh_demo

        folder = config.home_dir() / "demo"
        st, _ = fresh_demo(folder, user="demo", today=as_of(today))
        note(f"Demo database: {folder / 'demo.db'} (synthetic patients only).")
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be 0 to 65535, not {port}")
    server.serve(st, port=port, host=host, open_browser=not no_browser, as_of=when)
