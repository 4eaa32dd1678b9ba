"""A human-readable log per job: every line goes to the job's log file; stderr gets warnings and errors
(with no log file, everything), so a run's console stays short."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    handlers: list[logging.Handler] = [console]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
        console.setLevel(logging.WARNING)
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LINE_FORMAT))
        root.addHandler(handler)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    return logging.getLogger("gemsflow")


def _log_uncaught(exc_type, exc, traceback) -> None:
    """Put the reason a job failed into its log file, not only on the terminal."""
    from gemsflow.errors import GemsflowError

    logger = logging.getLogger("gemsflow")
    if isinstance(exc, GemsflowError):
        logger.error("%s", exc)  # the message names file, field and fix; a traceback adds nothing
    else:
        logger.error("job failed", exc_info=(exc_type, exc, traceback))
