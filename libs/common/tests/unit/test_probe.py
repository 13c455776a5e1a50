"""The container health probe: 2xx is healthy; an error status, a closed port or a timeout is not."""

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from demetra_common.probe import main, probe


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_2xx_is_healthy_and_an_error_status_is_not(port: int) -> None:
    assert probe("/health", port=port)
    assert not probe("/ready", port=port)


def test_main_reads_the_port_from_http_port(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PORT", str(port))
    assert main([]) == 0
    assert main(["/ready"]) == 1


def test_nothing_listening_is_unhealthy() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]
    assert not probe("/health", port=closed, timeout_s=1)
