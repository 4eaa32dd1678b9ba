"""A job's outputs are replaced only when the job succeeds, and a stopped or failed rerun costs nothing.

:func:`staged_outputs` is how every expensive job writes (GNN training, baselines, learners, the
mapping, LLM runs, LoRA adapters, text features, the simulate production model). The rule flags those
outputs ``update()``, so Snakemake does not delete them when the job starts; the job writes into a
staging folder beside them and moves everything into place at the end.

Snakemake's own bookkeeping of such outputs goes wrong when the job fails or is stopped, even though
the files themselves are untouched:

- a failed job's *new* params and code are recorded for the *old* outputs, so the next run with the new
  config reports "Nothing to be done" and serves results made with the old one;
- its backup copy is put back over the outputs, with a new mtime, so a rerun that an input change
  triggered is no longer seen as needed;
- a run stopped by Ctrl-C or SIGTERM leaves the outputs marked incomplete, so the next run retrains them,
  and leaves its copy of a directory output behind, so the next run cannot start that job at all.

So before any job starts, the workflow notes the Snakemake records and mtimes of the outputs that each
staged job of the run may replace (:func:`note_untouched`, from the ``onstart`` handler), and a job
drops its note once it has replaced them. A note that is left means the job never touched its
outputs: :func:`repair_bookkeeping`, called when the workflow is planned, puts those records and mtimes
back and removes the incomplete marks and the stale copies, so Snakemake decides from params, code and inputs exactly as
before the failed attempt. The records are Snakemake's file-persistence layout (``.snakemake/metadata``
and ``.snakemake/incomplete``, one file per output named by the urlsafe base64 of its path, split into
254-character parts); ``tests/test_interruptions.py`` checks it against the pinned Snakemake.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from gemsflow.errors import InputDataError

SNAKEMAKE_DIR = Path(".snakemake")
NOTES = SNAKEMAKE_DIR / "gemsflow-untouched"


@contextlib.contextmanager
def staged_outputs(outputs: Mapping[str, str | Path]) -> Iterator[dict[str, str]]:
    """Yield staging paths for a job's outputs; move them all onto the real paths only on success.

    Staged paths keep the outputs' layout below their common folder, so a writer that fills a folder
    (a model directory) writes into the staged folder unchanged. An output may be a directory.

    Before any work the job takes a lock of its own on its output folder (:func:`output_lock`), so a
    second run that reaches the same outputs fails at once instead of training them twice. The staging
    folder is created next, so an unwritable results folder fails before any work too.
    """
    targets = {name: Path(path) for name, path in outputs.items()}
    common = Path(os.path.commonpath([str(p.parent.absolute()) for p in targets.values()]))
    home = next(iter(targets.values())).parent
    tag = outputs_tag(targets.values())
    try:
        home.mkdir(parents=True, exist_ok=True)
        lock = output_lock(home, targets.values())
    except PermissionError as exc:
        raise _unwritable(home) from exc
    restore_sigterm = _exit_on_sigterm()
    try:
        try:
            # A job killed outright (SIGKILL) leaves its staging folder; only this job's are removed.
            for stale in home.glob(f".staging-{tag}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            stage = Path(tempfile.mkdtemp(dir=home, prefix=f".staging-{tag}-"))
        except PermissionError as exc:
            raise _unwritable(home) from exc
        staged = {
            name: stage / path.absolute().relative_to(common) for name, path in targets.items()
        }
        try:
            for path in staged.values():
                path.parent.mkdir(parents=True, exist_ok=True)
            yield {name: str(path) for name, path in staged.items()}
            for name, path in targets.items():
                if not staged[name].exists():
                    raise FileNotFoundError(f"the job did not write its output {name!r} ({path})")
            # From here on the outputs are this run's: Snakemake's records of this job are right.
            shutil.rmtree(NOTES / tag, ignore_errors=True)
            for name, path in targets.items():
                _replace(staged[name], path, stage)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    finally:
        restore_sigterm()
        os.close(lock)


def outputs_tag(paths: Iterable[str | Path]) -> str:
    """A short name for one job's set of outputs (its staging folders and bookkeeping note)."""
    names = "\n".join(sorted(str(Path(p).absolute()) for p in paths))
    return hashlib.sha1(names.encode()).hexdigest()[:12]


def _unwritable(folder: Path) -> InputDataError:
    return InputDataError(
        folder, None, "the results folder is not writable", "fix its permissions (chmod u+w)"
    )


def _replace(staged: Path, path: Path, stage: Path) -> None:
    """Move ``staged`` onto ``path``; a directory output is swapped (a rename cannot overwrite a
    non-empty directory), the previous one moved into the staging folder that is removed after."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        os.replace(path, stage / f".previous-{path.name}")
    elif staged.is_dir() and path.exists():
        path.unlink()
    os.replace(staged, path)


def _exit_on_sigterm():
    """Turn SIGTERM into SystemExit while a job writes; returns the function restoring the handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    return lambda: signal.signal(signal.SIGTERM, previous)


class OutputsBusyError(RuntimeError):
    """Another running job holds the lock on the same outputs."""


def output_lock(folder: Path, outputs: Iterable[Path]) -> int:
    """Hold an exclusive lock on a job's output folder until the returned descriptor is closed.

    Snakemake's own locks live in ``.snakemake/locks`` and any run that exits removes them, even those
    of a run that is still training; this lock belongs to the job's process, so the kernel releases it
    only when that process ends (a kill included). It is taken on the folder itself, so it leaves no
    file behind. ``flock`` is advisory and per host: on a cluster file system that does not support it,
    a job on another node may not see it.
    """
    import fcntl

    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        listing = ", ".join(str(p) for p in outputs)
        raise OutputsBusyError(
            f"another run is writing these outputs right now: {listing}. Fix: wait for that run to "
            "finish, or stop it, then rerun; two runs must not train the same outputs."
        ) from None
    return descriptor


def _folder_busy(folder: Path) -> bool:
    import fcntl

    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


# ------------------------------------------------------------------ Snakemake's bookkeeping


def _record(kind: str, output: str) -> Path:
    """Snakemake's record of ``output`` in ``.snakemake/<kind>`` (file persistence)."""
    encoded = base64.urlsafe_b64encode(output.encode()).decode()
    parts = [encoded[i : i + 254] for i in range(0, len(encoded), 254)]
    return SNAKEMAKE_DIR.joinpath(kind, *["@" + p for p in parts[:-1]], parts[-1])


def _mtimes(path: Path) -> dict[str, int]:
    """The mtime of an output and, for a directory, of everything in it (Snakemake reads both)."""
    found = {str(path): path.stat().st_mtime_ns}
    if path.is_dir():
        found.update({str(p): p.stat().st_mtime_ns for p in path.rglob("*")})
    return found


def note_untouched(jobs: Iterable[list[str]]) -> None:
    """Write down what Snakemake knows of the outputs of the jobs a run is about to start.

    Called by the workflow's ``onstart`` handler, in the head process, before any job runs, for each
    job whose outputs are staged (flagged ``update()``); ``jobs`` holds each job's output paths. A job
    that replaces its outputs drops its note (:func:`staged_outputs`).
    """
    if not SNAKEMAKE_DIR.is_dir():
        return
    for outputs in jobs:
        note = NOTES / outputs_tag(outputs)
        shutil.rmtree(note, ignore_errors=True)
        (note / "records").mkdir(parents=True)
        entries = {}
        for index, output in enumerate(outputs):
            if not Path(output).exists():
                continue
            record = _record("metadata", output)
            kept = None
            if record.exists():
                kept = f"records/{index}"
                shutil.copyfile(record, note / kept)
            entries[output] = {"record": kept, "mtimes": _mtimes(Path(output))}
        folder = str(Path(outputs[0]).parent)
        noted = {"folder": folder, "run": [os.uname().nodename, os.getpid()], "outputs": entries}
        (note / "note.json").write_text(json.dumps(noted))


def repair_bookkeeping() -> list[str]:
    """Undo Snakemake's bookkeeping of outputs that a failed or stopped job left untouched.

    Runs in the workflow's head process before planning; returns the outputs whose records it had
    to put back. A note is left alone while the run that wrote it goes on, or while its job still
    holds its output lock.
    """
    repaired = []
    if not NOTES.is_dir():
        return repaired
    for note in sorted(NOTES.iterdir()):
        try:
            content = json.loads((note / "note.json").read_text())
        except (OSError, ValueError):
            shutil.rmtree(note, ignore_errors=True)  # its run died while writing it: nothing noted
            continue
        if _alive(content["run"]) or _folder_busy(Path(content["folder"])):
            continue  # its run goes on (its job may not have started yet), or its job still writes
        for output, entry in content["outputs"].items():
            if Path(output).exists() and _put_back(output, entry, note):
                repaired.append(output)
        shutil.rmtree(note, ignore_errors=True)
    return repaired


def _alive(run: list) -> bool:
    """Whether the head process that wrote a note still runs (on another host: taken as ended)."""
    host, pid = run
    if host != os.uname().nodename or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _put_back(output: str, entry: Mapping[str, Any], note: Path) -> bool:
    """Restore one output's record and mtimes, drop its incomplete mark and backup copy; True if any
    of them had changed (a job that was planned but never started changed nothing)."""
    changed = False
    record = _record("metadata", output)
    kept = note / entry["record"] if entry["record"] else None
    current = record.read_bytes() if record.exists() else None
    if current != (kept.read_bytes() if kept else None):
        changed = True
        if kept:
            record.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(kept, record)
        else:
            record.unlink()
    for path, mtime in entry["mtimes"].items():
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_mtime_ns != mtime:
                changed = True
                os.utime(path, ns=(mtime, mtime))
    for leftover in (_record("incomplete", output), _backup(output)):
        if leftover.exists():
            changed = True
            _remove(leftover)
    return changed


def _backup(output: str) -> Path:
    """Snakemake's copy of an ``update()`` output, taken when its job starts (``.snakemake/backups``)."""
    path = Path(output)
    if path.is_absolute():
        path = path.relative_to(path.anchor)
    return SNAKEMAKE_DIR / "backups" / path


def _remove(path: Path) -> None:
    # Snakemake cannot start the job again while a directory output's copy is left (copytree refuses
    # an existing target); an untouched output needs no copy.
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
