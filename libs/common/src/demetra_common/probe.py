"""``python -m demetra_common.probe [PATH]``: exit 0 when this container's own HTTP endpoint answers 2xx.

Container health checks (Dockerfile ``HEALTHCHECK``, docker compose ``healthcheck``) run it inside the
service's container: the images are slim and have no curl. It asks ``http://127.0.0.1:$HTTP_PORT`` +
PATH (default ``/health``) and imports nothing heavier than the standard library, so it costs little.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def probe(path: str = "/health", *, port: int | None = None, timeout_s: float = 3.0) -> bool:
    port = port or int(os.environ.get("HTTP_PORT", "8000"))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return 0 if probe(args[0] if args else "/health") else 1


if __name__ == "__main__":
    sys.exit(main())
