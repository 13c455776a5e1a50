"""docs/kafka-ui.png: the local stack's Kafka UI as a browser shows it, for the README.

    make up && uv run --frozen python docs/screenshot_kafka_ui.py [URL] [--out docs/kafka-ui.png]

URL defaults to the overview `make up` serves (http://127.0.0.1:8080). Headless Chromium (Debian's
`chromium` and `chromium-driver`, which `make browser` installs) opens it, waits until kaskade has drawn
the topic list and saves the window.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from demetra_testkit.browser import TerminalScreen, headless_chromium

DOCS = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8080")
    parser.add_argument("--out", type=Path, default=DOCS / "kafka-ui.png")
    args = parser.parse_args()
    with headless_chromium(width=1200, height=520) as driver:
        screen = TerminalScreen(driver).open(args.url)
        screen.wait_for("Topics", "Lag", "Updated")
        # The terminal fades in after its first bytes; the screenshot waits for the fade to end.
        driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "const terminal = document.querySelector('.textual-terminal');"
            "const settled = () => getComputedStyle(terminal).opacity === '1' ? done(true)"
            " : requestAnimationFrame(settled);"
            "settled();"
        )
        driver.save_screenshot(str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
