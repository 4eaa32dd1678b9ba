"""Screenshot HTML pages in headless Chromium: a Snakemake report with one result shown, or any page.

The report is a single-page app that starts on its workflow overview; to show a result (the leaderboard)
this tool writes a copy of the report with a small script that, once the page has loaded, opens the result
through the app's own navigation (``app.setView``, what clicking the entry in the sidebar does). The
report file itself is not changed.

    python tools/screenshot_report.py report.html shot.png \
        --result results/leaderboards/setting1/twin/leaderboard.html

A plain page (a leaderboard.html, a study's index.html) is opened as it is, at the given width, as tall
as ``--height``:

    python tools/screenshot_report.py --page results/leaderboards/setting1/twin/leaderboard.html shot.png

Also writes ``<shot>.dom.html``, the rendered DOM, so a test can check what the page displayed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

OPEN_RESULT = """
<script>
(function () {
  var path = %s;
  // React mounts the app asynchronously: wait until it exists, then navigate as a click would.
  var timer = setInterval(function () {
    if (typeof app === "undefined" || !app) { return; }
    clearInterval(timer);
    var where = null;
    for (var cat in categories) {
      for (var sub in categories[cat]) {
        if (categories[cat][sub].indexOf(path) >= 0) { where = [cat, sub]; }
      }
    }
    var kind = results[path].mime_type.indexOf("image/") === 0 ? "img" : "html";
    app.setView({navbarMode: "subcategory", category: where[0], subcategory: where[1],
                 content: kind, contentPath: results[path].data_uri, resultPath: path});
    document.body.setAttribute("data-shown-result", path);
  }, 50);
})();
</script>
"""


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError(
        "no Chromium found: install it (Debian: apt-get install -y chromium) to screenshot reports"
    )


def report_results(report: str) -> list[str]:
    """Paths of the results embedded in a Snakemake report."""
    match = re.search(r"var categories = (\{.*?\});\n", report)
    if not match:
        raise ValueError("not a Snakemake HTML report: no 'categories' table found")
    categories = json.loads(match.group(1))
    return [path for subs in categories.values() for paths in subs.values() for path in paths]


def screenshot_report(
    report_path: str | Path,
    out_png: str | Path,
    result: str | None = None,
    window: tuple[int, int] = (1600, 1000),
    timeout: int = 120,
) -> Path:
    """Screenshot ``report_path`` showing ``result`` (default: the first leaderboard) in Chromium."""
    report_path, out_png = Path(report_path), Path(out_png)
    text = report_path.read_text(encoding="utf-8")
    paths = report_results(text)
    if result is None:
        boards = [p for p in paths if p.endswith("leaderboard.html")]
        if not boards:
            raise ValueError(f"{report_path}: the report holds no leaderboard.html result")
        result = boards[0]
    if result not in paths:
        raise ValueError(f"{report_path}: result {result!r} not in the report; it has {paths}")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gemsflow-chromium-") as tmp:
        page = Path(tmp) / "report.html"
        # The last </body> is the document's; earlier ones sit inside embedded JavaScript strings.
        head, body_end, tail = text.rpartition("</body>")
        if not body_end:
            raise ValueError(f"{report_path}: no </body> tag")
        page.write_text(head + OPEN_RESULT % json.dumps(result) + body_end + tail, encoding="utf-8")
        # --virtual-time-budget lets the load handler and React's render run before the capture.
        return _capture(page, out_png, window, timeout, Path(tmp), "--virtual-time-budget=5000")


def screenshot_page(
    page: str | Path,
    out_png: str | Path,
    window: tuple[int, int] = (1400, 1000),
    timeout: int = 120,
) -> Path:
    """Screenshot a self-contained HTML page as it opens (no navigation), with its rendered DOM."""
    page, out_png = Path(page).resolve(), Path(out_png)
    if not page.exists():
        raise FileNotFoundError(f"{page}: no such page")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gemsflow-chromium-") as tmp:
        return _capture(page, out_png, window, timeout, Path(tmp))


def _capture(
    page: Path, out_png: Path, window: tuple[int, int], timeout: int, tmp: Path, *flags: str
) -> Path:
    """Chromium twice on ``page``: the screenshot, then the rendered DOM (``<shot>.dom.html``)."""
    common = [chromium_binary(), *CHROMIUM_FLAGS, f"--window-size={window[0]},{window[1]}", *flags]
    subprocess.run(
        [
            *common,
            f"--user-data-dir={tmp}/shot",
            f"--screenshot={out_png.resolve()}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=timeout,
    )
    dom = subprocess.run(
        [*common, f"--user-data-dir={tmp}/dom", "--dump-dom", page.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    ).stdout
    out_png.with_suffix(".dom.html").write_text(dom, encoding="utf-8")
    if not out_png.exists():
        raise RuntimeError(f"Chromium wrote no screenshot to {out_png}")
    return out_png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="Snakemake HTML report, or with --page any HTML page")
    parser.add_argument("png", help="screenshot to write")
    parser.add_argument("--page", action="store_true", help="a plain page: open it as it is")
    parser.add_argument("--result", help="result path to show (default: first leaderboard)")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args()
    window = (args.width, args.height)
    if args.page:
        out = screenshot_page(args.report, args.png, window)
    else:
        out = screenshot_report(args.report, args.png, args.result, window)
    print(out)


if __name__ == "__main__":
    main()
