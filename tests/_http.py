"""A static HTTP server on 127.0.0.1 serving a directory, for symbol-server tests."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

__all__ = ["StaticServer"]


class StaticServer:
    """Serves ``root`` on a free loopback port in a thread; records every GET.

    Attributes:
        url: the server's base URL plus ``prefix``.
        requests: paths asked for, in order.
        fail_with: when set, every GET answers with this HTTP status instead.
    """

    def __init__(self, root: Path, prefix: str = "") -> None:
        self.root = root
        self.requests: list[str] = []
        self.fail_with: int | None = None
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                if outer.fail_with is not None:
                    self.send_error(outer.fail_with)
                    return
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{prefix}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
