"""A static HTTP server on 127.0.0.1 serving a directory, for symbol-server tests."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["HostileServer", "StaticServer"]


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


class HostileServer:
    """A loopback TCP server answering every connection with ``reply(conn)``.

    For symbol-server faults that a well-behaved HTTP server cannot produce:
    broken status lines, endless or dripping bodies, truncated chunked bodies.
    Bounded: 127.0.0.1 only, every connection handled in a daemon thread with a
    socket timeout, and ``close`` stops accepting.

    Attributes:
        url: the base URL.
        requests: request lines received, in order.
        sent: bytes of body sent in all.
    """

    def __init__(self, reply: Callable[[HostileServer, socket.socket], None]) -> None:
        self.reply = reply
        self.requests: list[str] = []
        self.sent = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/s"
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        with conn:
            try:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    part = conn.recv(4096)
                    if not part:
                        return
                    head += part
                self.requests.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
                self.reply(self, conn)
            except OSError:
                pass

    def close(self) -> None:
        """Stop accepting connections."""
        self._stop.set()
        self._sock.close()
