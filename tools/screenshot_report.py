"""Open a Snakemake HTML report in headless Chromium with one result shown, and screenshot it.

The report is a single-page app that starts on its workflow overview; to show a result (the leaderboard)
this tool writes a copy of the report with a small script that, once the page has loaded, opens the result
through the app's own navigation (``app.setView``, what clicking the entry in the sidebar does). The
report file itself is not changed.

    python tools/screenshot_report.py report.html shot.png \
        --result results/leaderboards/setting1/twin/leaderboard.html

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
        common = [
            chromium_binary(),
            *CHROMIUM_FLAGS,
            f"--window-size={window[0]},{window[1]}",
            # Lets the load handler and React's render run before the capture.
            "--virtual-time-budget=5000",
        ]
        subprocess.run(
            [
                *common,
                f"--user-data-dir={tmp}/profile-shot",
                f"--screenshot={out_png}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        dom = subprocess.run(
            [*common, f"--user-data-dir={tmp}/profile-dom", "--dump-dom", page.as_uri()],
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
    parser.add_argument("report", help="Snakemake HTML report (snakemake --report report.html)")
    parser.add_argument("png", help="screenshot to write")
    parser.add_argument("--result", help="result path to show (default: first leaderboard)")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args()
    out = screenshot_report(args.report, args.png, args.result, (args.width, args.height))
    print(out)


if __name__ == "__main__":
    main()
