"""The local stack's Kafka UI: one kaskade view of a Kafka cluster, served to the browser by textual-serve.

    python deploy/local/kafka_ui.py --port 8080 --state DIR -- admin -b 127.0.0.1:9092

Everything after ``--`` is kaskade's command line (``admin`` for topics, groups and lag; ``consumer -t TOPIC``
for a topic's records with their headers). Each browser tab gets its own kaskade process. The server binds to
127.0.0.1 only: kaskade has no login and can create and delete topics.

The page is textual-serve's own, less its one CDN link (a Google Fonts stylesheet): the font it asks for is
in textual-serve's static files, so the page needs nothing from outside this machine. The page is written at
start into ``DIR/templates``, and kaskade keeps its log and settings under ``DIR`` instead of the home folder.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from pathlib import Path

import textual_serve
from textual_serve.server import Server

PAGE = "app_index.html"
PACKAGE = Path(textual_serve.__file__).resolve().parent
CDN_LINK = re.compile(r"<link[^>]*https://fonts\.googleapis\.com[^>]*>", re.DOTALL)
LOCAL_FONT = """<style>
      @font-face {
        font-family: "Roboto Mono";
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf");
      }
    </style>"""


def write_offline_page(templates: Path) -> Path:
    """textual-serve's page with the web font from its own static files instead of Google Fonts."""
    page, replaced = CDN_LINK.subn(LOCAL_FONT, (PACKAGE / "templates" / PAGE).read_text(), count=1)
    if replaced != 1 or "https://" in page:
        raise SystemExit(f"textual-serve's {PAGE} changed: check what it loads from outside, then serve it")
    templates.mkdir(parents=True, exist_ok=True)
    (templates / PAGE).write_text(page)
    return templates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True, help="folder for the page and kaskade's files")
    parser.add_argument("--title", default="Demetra Kafka UI")
    parser.add_argument("kaskade", nargs=argparse.REMAINDER, help="-- then kaskade's arguments")
    args = parser.parse_args(argv)
    kaskade = args.kaskade[1:] if args.kaskade[:1] == ["--"] else args.kaskade
    if not kaskade:
        parser.error("kaskade's arguments are missing (after --)")
    state: Path = args.state.resolve()
    # kaskade writes its log under XDG_STATE_HOME and reads settings.yaml under XDG_CONFIG_HOME.
    os.environ["XDG_STATE_HOME"] = str(state / "kaskade")
    os.environ["XDG_CONFIG_HOME"] = str(state / "config")
    server = Server(
        shlex.join([sys.executable, "-m", "kaskade.main", *kaskade]),
        host="127.0.0.1",
        port=args.port,
        title=args.title,
        templates_path=write_offline_page(state / "templates"),
    )
    server.serve()


if __name__ == "__main__":
    main()
