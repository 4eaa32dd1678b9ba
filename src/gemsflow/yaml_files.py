"""YAML files a user writes (config files, study files), read so that nothing passes silently.

PyYAML keeps the last of two equal keys without a word, so a value given twice in a config decides a
run while the first one reads as if it did. Here a repeated key is an error naming both lines, and a
syntax error names the file, the line and the column.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from gemsflow.errors import InputDataError

# libyaml's parser where PyYAML was built with it: the schema is read on every parse of the workflow,
# and the pure-Python parser takes ten times longer over it.
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def load_schema(schema_path: str | Path) -> dict[str, Any]:
    """A schema file we ship (no duplicate-key check), parsed once per process; callers must not mutate it."""
    return yaml.load(Path(schema_path).read_text(), Loader=FAST_LOADER)


class _RepeatedKey(Exception):
    def __init__(self, key: Any, first: int, second: int):
        self.key, self.first, self.second = key, first, second


class _StrictLoader(FAST_LOADER):  # type: ignore[misc, valid-type]
    """Safe loading that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` may be overridden by the mapping's own keys
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _RepeatedKey(key, seen[key], line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path, what: str = "config") -> Any:
    """Parse a user's YAML file; repeated keys and syntax errors are :class:`InputDataError`."""
    path = Path(path)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except _RepeatedKey as error:
        raise InputDataError(
            path,
            str(error.key),
            f"key given twice in the {what} file (lines {error.first} and {error.second}); YAML "
            "would keep the second one silently",
            "keep one of the two lines",
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputDataError(
            path,
            None,
            f"not valid YAML{where}: {error.problem or error.context}",
            "fix that line: indent with spaces, not tabs; close every bracket and quote; quote a "
            "value that contains ': ' or starts with a special character",
        ) from None
    except yaml.YAMLError as error:
        raise InputDataError(path, None, f"not valid YAML ({error})", "fix the syntax") from None
