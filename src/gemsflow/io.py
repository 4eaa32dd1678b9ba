"""Atomic file writing: a failed stage never leaves a half-written output behind.

Every writer goes through a temporary file in the destination directory followed by ``os.replace``,
which is atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp"
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; outputs are meant to be shared like any other file.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(obj: Any, path: str | Path, *, indent: int = 2) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent, sort_keys=False, allow_nan=False) + "\n")


def read_json(path: str | Path) -> Any:
    with open(path) as handle:
        return json.load(handle)


def read_parquet(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """A parquet table the workflow wrote; a truncated or corrupt file is an error naming it.

    pyarrow's own message ("Parquet magic bytes not found", ArrowInvalid) names no file and no fix.
    """
    import pyarrow

    try:
        return pd.read_parquet(path, **kwargs)
    except (pyarrow.ArrowException, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        from gemsflow.errors import InputDataError

        raise InputDataError(
            path,
            None,
            f"not a readable parquet table, truncated or corrupt ({exc})",
            "delete the file and rerun: the workflow rebuilds it from its inputs",
        ) from exc


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_jsonl(records: list[dict[str, Any]], path: str | Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def save_torch(obj: Any, path: str | Path) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_torch(path: str | Path) -> Any:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


# safetensors dtype codes -> numpy; BF16 has no numpy dtype and is widened exactly to float32 below.
_SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
    "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
}  # fmt: skip


def read_safetensors(path: str | Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Tensors of a safetensors file as numpy arrays, and its metadata, without importing torch.

    Jobs that only read a model (a study's simulation) would otherwise pay torch's import time, the
    largest part of their run. bfloat16 is the upper half of a float32, so it widens exactly by a
    16-bit shift: values equal torch's ``.float()``.
    """
    import numpy as np

    raw = Path(path).read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, spec in header.items():
        if spec["dtype"] not in _SAFETENSORS_DTYPES:
            from gemsflow.errors import InputDataError

            raise InputDataError(
                path,
                f"{name}.dtype",
                f"dtype {spec['dtype']} is not one gemsflow writes",
                "rebuild the file with the workflow",
            )
        start, end = spec["data_offsets"]
        buffer = raw[8 + size + start : 8 + size + end]
        values = np.frombuffer(buffer, dtype=_SAFETENSORS_DTYPES[spec["dtype"]])
        if spec["dtype"] == "BF16":
            values = (values.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = values.reshape(spec["shape"]).copy()
    return tensors, metadata
