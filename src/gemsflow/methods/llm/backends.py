"""Inference backends behind one interface: score answer letters, generate text.

* ``TransformersBackend`` (CPU or GPU): batched right-padded forward passes; the log-probabilities of every
  letter are read at each prompt's last real token, so one forward pass per batch scores all options of all
  prompts in it. Letters that are not a single token are scored as full continuations.
* ``VLLMBackend`` (GPU clusters): offline ``vllm.LLM`` with top-k log-probabilities; vLLM is imported only
  when this backend is built. Everything after the engine call lives in ``gemsflow.methods.llm.letters``.
* ``OpenAIBackend``: chat completions with ``top_logprobs``; key from the environment.

Chat models (``is_chat``) get the system message of ``templates.SYSTEM_MESSAGE`` and the prompt as one user
turn, formatted and tokenised once by :func:`gemsflow.methods.llm.tokens.encode_prompts`, which LoRA training and vLLM
use too, so training and inference see the
same text.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Protocol

import torch
from tqdm import tqdm

from gemsflow.errors import InputDataError
from gemsflow.methods.llm import letters as letter_scoring
from gemsflow.methods.llm.letters import LetterScores
from gemsflow.methods.llm.tokens import LetterTokens, chat_messages, encode_prompts

log = logging.getLogger(__name__)


class Backend(Protocol):
    def letter_scores(
        self, prompts: list[str], letter_lists: list[list[str]]
    ) -> list[LetterScores]: ...

    def generate(
        self, prompts: list[str], max_new_tokens: int, temperature: float = 0.0, seed: int = 0
    ) -> list[str]: ...

    def describe(self) -> dict: ...


def resolve_dtype(name: str, device: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[
            name
        ]
    except KeyError:
        raise InputDataError(
            None,
            "llm.models.dtype",
            f"unknown dtype {name!r}",
            "use auto, bfloat16, float16 or float32",
        ) from None


def load_causal_lm(
    path: str, *, dtype: str = "auto", device: str | None = None, adapter: str | None = None
):
    """Tokenizer and eval-mode model (optionally with a PEFT adapter) on ``device``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if Path(path).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=resolve_dtype(dtype, device))
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.to(device).eval()
    return tokenizer, model


def right_padded(batch: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right padding keeps every real token at the positions it has unpadded, so no position-id fix-up."""
    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[row, : len(ids)] = 1
    return input_ids.to(device), mask.to(device)


def last_token_logits(model, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Logits at each row's last real token of a right-padded batch, ``[batch, vocab]``.

    Only the distinct last positions go through the LM head (``logits_to_keep``): the full
    ``[batch, length, vocab]`` logits would cost more than the rest of a small model's forward pass.
    """
    last = mask.sum(dim=1) - 1
    keep = torch.unique(last)
    rows = torch.arange(len(last), device=last.device)
    try:
        logits = model(input_ids=input_ids, attention_mask=mask, logits_to_keep=keep).logits
    except TypeError:  # architectures without logits_to_keep
        return model(input_ids=input_ids, attention_mask=mask).logits[rows, last]
    return logits[rows, torch.searchsorted(keep, last)]


class TransformersBackend:
    def __init__(
        self,
        path: str,
        *,
        dtype: str = "auto",
        device: str | None = None,
        batch_size: int = 16,
        generate_batch_size: int | None = None,
        adapter: str | None = None,
        is_chat: bool = False,
        chat_template_kwargs: dict | None = None,
        max_length: int | None = None,
        tokenizer=None,
        model=None,
    ):
        if model is None:
            tokenizer, model = load_causal_lm(path, dtype=dtype, device=device, adapter=adapter)
        self.tokenizer, self.model = tokenizer, model
        self.device = next(model.parameters()).device
        self.batch_size = batch_size
        self.generate_batch_size = generate_batch_size or batch_size
        self.is_chat = is_chat
        self.chat_template_kwargs = chat_template_kwargs
        self.name = path
        self.letter_tokens = LetterTokens(tokenizer, path)
        self.max_length = max_length or getattr(model.config, "max_position_embeddings", None)
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        )

    def describe(self) -> dict:
        """What a run_info records of the model that made it."""
        return {
            "backend": "transformers",
            "chat": self.is_chat,
            "model_parameters": int(sum(p.numel() for p in self.model.parameters())),
        }

    def encode_texts(self, prompts: list[str]) -> tuple[list[str], list[list[int]]]:
        """Final prompt texts and their checked token ids (see ``gemsflow.methods.llm.tokens``)."""
        texts, ids = encode_prompts(
            self.tokenizer,
            prompts,
            model=self.name,
            is_chat=self.is_chat,
            chat_template_kwargs=self.chat_template_kwargs,
        )
        if self.max_length:
            too_long = sum(len(x) > self.max_length for x in ids)
            if too_long:
                log.warning(
                    "%d prompts exceed %d tokens; their beginning is cut", too_long, self.max_length
                )
                # The answer cue is at the end, so the start of the prompt is what goes (a leading
                # special token such as BOS stays).
                special = set(self.tokenizer.all_special_ids)
                ids = [
                    x
                    if len(x) <= self.max_length
                    else x[:1] + x[-(self.max_length - 1) :]
                    if x[0] in special
                    else x[-self.max_length :]
                    for x in ids
                ]
        return texts, ids

    def encode(self, prompts: list[str]) -> list[list[int]]:
        return self.encode_texts(prompts)[1]

    @torch.inference_mode()
    def _last_logprobs(self, batch: list[list[int]]) -> torch.Tensor:
        input_ids, mask = right_padded(batch, self.pad_id, self.device)
        return torch.log_softmax(last_token_logits(self.model, input_ids, mask).float(), dim=-1)

    @torch.inference_mode()
    def _continuation_logprobs(self, pairs: list[tuple[list[int], tuple[int, ...]]]) -> list[float]:
        """log p(continuation | prefix) for multi-token letters, batched like the prompts."""
        out = []
        for start in range(0, len(pairs), self.batch_size):
            chunk = pairs[start : start + self.batch_size]
            input_ids, mask = right_padded(
                [list(p) + list(c) for p, c in chunk], self.pad_id, self.device
            )
            logprobs = torch.log_softmax(
                self.model(input_ids=input_ids, attention_mask=mask).logits.float(), -1
            )
            for row, (prefix, cont) in enumerate(chunk):
                positions = torch.arange(
                    len(prefix) - 1, len(prefix) + len(cont) - 1, device=self.device
                )
                targets = torch.tensor(cont, device=self.device)
                out.append(float(logprobs[row, positions, targets].sum()))
        return out

    def letter_scores(
        self, prompts: list[str], letter_lists: list[list[str]]
    ) -> list[LetterScores]:
        texts, ids = self.encode_texts(prompts)
        tables = [
            self.letter_tokens.scoring_table(t, letters)
            for t, letters in zip(texts, letter_lists, strict=True)
        ]
        return self.letter_scores_from_ids(ids, letter_lists, tables)

    def letter_scores_from_ids(
        self,
        ids: list[list[int]],
        letter_lists: list[list[str]],
        tables: list[dict[str, list[tuple[int, ...]]]],
    ) -> list[LetterScores]:
        """Scores of tokenised prompts; ``tables[i]`` maps each letter of prompt ``i`` to the token
        sequences that spell it after that prompt (``LetterTokens.scoring_table``)."""
        # Longest first, so that each batch holds prompts of similar length (little padding).
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        raw: list[list[float]] = [[0.0] * len(letters) for letters in letter_lists]
        pending: list[tuple[int, int, list[int], tuple[int, ...]]] = []
        for start in tqdm(
            range(0, len(order), self.batch_size), desc="scoring", disable=len(order) < 500
        ):
            rows = order[start : start + self.batch_size]
            probs = self._last_logprobs([ids[i] for i in rows]).exp().cpu()
            for r, i in enumerate(rows):
                for j, letter in enumerate(letter_lists[i]):
                    for seq in tables[i][letter]:
                        if len(seq) == 1:
                            raw[i][j] += float(probs[r, seq[0]])
                        else:
                            pending.append((i, j, ids[i], seq))
        if pending:
            values = self._continuation_logprobs([(p, s) for _, _, p, s in pending])
            for (i, j, _, _), value in zip(pending, values, strict=True):
                raw[i][j] += float(torch.tensor(value).exp())
        return [letter_scoring.from_letter_probs(r) for r in raw]

    @torch.inference_mode()
    def generate(
        self, prompts: list[str], max_new_tokens: int, temperature: float = 0.0, seed: int = 0
    ) -> list[str]:
        ids = self.encode(prompts)
        out: list[str] = [""] * len(ids)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        torch.manual_seed(seed)
        for start in tqdm(
            range(0, len(order), self.generate_batch_size),
            desc="generating",
            disable=len(order) < 50,
        ):
            rows = order[start : start + self.generate_batch_size]
            width = max(len(ids[i]) for i in rows)
            # generate() derives position ids from the mask, so left padding is right here.
            input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, i in enumerate(rows):
                input_ids[r, width - len(ids[i]) :] = torch.tensor(ids[i])
                mask[r, width - len(ids[i]) :] = 1
            kwargs = (
                {"do_sample": True, "temperature": temperature}
                if temperature > 0
                else {"do_sample": False}
            )
            generated = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=mask.to(self.device),
                max_new_tokens=max_new_tokens,
                pad_token_id=self.pad_id,
                **kwargs,
            )
            for r, i in enumerate(rows):
                out[i] = self.tokenizer.decode(generated[r, width:], skip_special_tokens=True)
        return out


class VLLMBackend:
    """Offline vLLM engine; only the engine calls live here, parsing is ``gemsflow.methods.llm.letters``."""

    def __init__(
        self,
        path: str,
        *,
        dtype: str = "bfloat16",
        tensor_parallel_size: int = 1,
        max_model_len: int = 4096,
        max_logprobs: int = 64,
        adapter: str | None = None,
        is_chat: bool = False,
        chat_template_kwargs: dict | None = None,
        gpu_memory_utilization: float = 0.9,
        enable_prefix_caching: bool = True,
    ):
        from vllm import LLM

        self.llm = LLM(
            model=path,
            dtype=dtype,
            tensor_parallel_size=tensor_parallel_size,
            max_model_len=max_model_len,
            max_logprobs=max_logprobs,
            enable_lora=adapter is not None,
            gpu_memory_utilization=gpu_memory_utilization,
            enable_prefix_caching=enable_prefix_caching,
        )
        self.max_logprobs = max_logprobs
        self.name = path
        self.is_chat = is_chat
        self.chat_template_kwargs = chat_template_kwargs
        self.lora_request = None
        if adapter is not None:
            from vllm.lora.request import LoRARequest

            self.lora_request = LoRARequest("adapter", 1, adapter)

    def describe(self) -> dict:
        return {"backend": "vllm", "chat": self.is_chat, "model_parameters": None}

    def token_prompts(self, prompts: list[str]) -> tuple[list[str], list[dict]]:
        """Final texts and the engine's inputs: checked token ids (vLLM's ``TokensPrompt``, a TypedDict),
        so the engine adds no second BOS in front of a chat template's own."""
        texts, ids = encode_prompts(
            self.llm.get_tokenizer(),
            prompts,
            model=self.name,
            is_chat=self.is_chat,
            chat_template_kwargs=self.chat_template_kwargs,
        )
        return texts, [{"prompt_token_ids": x} for x in ids]

    def letter_scores(
        self, prompts: list[str], letter_lists: list[list[str]]
    ) -> list[LetterScores]:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, temperature=1.0, logprobs=self.max_logprobs)
        texts, inputs = self.token_prompts(prompts)
        outputs = self.llm.generate(inputs, params, lora_request=self.lora_request)
        letter_tokens = LetterTokens(self.llm.get_tokenizer(), self.name)
        return [
            letter_scoring.from_token_id_logprobs(
                o.outputs[0].logprobs[0], letters, letter_tokens.scoring_table(text, letters)
            )
            for o, text, letters in zip(outputs, texts, letter_lists, strict=True)
        ]

    def generate(
        self, prompts: list[str], max_new_tokens: int, temperature: float = 0.0, seed: int = 0
    ) -> list[str]:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=max_new_tokens, temperature=temperature, seed=seed)
        _, inputs = self.token_prompts(prompts)
        outputs = self.llm.generate(inputs, params, lora_request=self.lora_request)
        return [o.outputs[0].text for o in outputs]


def openai_client(api_key_env: str = "OPENAI_API_KEY", base_url: str | None = None):
    """An OpenAI (or OpenAI-compatible) client; the key comes from the environment, never a file."""
    key = os.environ.get(api_key_env)
    if not key:
        raise InputDataError(
            None, api_key_env, "environment variable is not set", f"export {api_key_env}=<your key>"
        )
    import openai

    # gemsflow's call_api is the one retry policy: the client's own retries would multiply it.
    return openai.OpenAI(api_key=key, base_url=base_url, max_retries=0)


def endpoint_of(client) -> str:
    """The URL a client sends to, for error messages (never the key)."""
    return str(getattr(client, "base_url", None) or "the API endpoint")


# HTTP statuses worth a retry: rate limits (429), request timeouts (408) and transient server errors.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


def _status(error: Exception) -> int | None:
    status = getattr(error, "status_code", None)
    if status is None:
        status = getattr(getattr(error, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def call_api(
    fn,
    *,
    max_retries: int,
    sleep,
    api_key_env: str,
    what: str,
    max_wait: float = 60.0,
    endpoint: str = "the API endpoint",
):
    """Call ``fn`` and retry only what can pass by itself (rate limits, 5xx, timeouts), with a logged
    exponential back-off bounded by ``max_wait`` seconds per wait. An authentication or permission
    error fails at once, naming the variable that holds the key; a connection that cannot be made at
    all (no network, wrong host) fails at once, naming ``endpoint``; any other client error (bad
    request, unknown model) fails at once too."""
    for attempt in range(max_retries + 1):
        try:
            return fn()
        except Exception as error:
            status = _status(error)
            if status in (401, 403):
                raise InputDataError(
                    None,
                    api_key_env,
                    f"the API refused the key for {what} (HTTP {status}: {type(error).__name__})",
                    f"set {api_key_env} to a valid key with access to this model (export "
                    f"{api_key_env}=...), or point api_key_env at the variable that holds it",
                ) from error
            # A refused or unresolvable connection does not heal by waiting; a timeout may.
            unreachable = type(error).__name__ == "APIConnectionError" or (
                isinstance(error, ConnectionError) and not isinstance(error, TimeoutError)
            )
            if unreachable:
                raise InputDataError(
                    None,
                    "base_url",
                    f"could not connect to {endpoint} for {what}: no network path to it "
                    f"({type(error).__name__}: {error})",
                    "check the network and any proxy (HTTPS_PROXY), or set base_url of the "
                    "llm.models / llm.embedders entry to a reachable OpenAI-compatible server; on "
                    "an offline machine use a transformers model (e.g. smollm2-135m) instead",
                ) from error
            transient = status in RETRY_STATUSES or (
                status is None
                and (isinstance(error, TimeoutError) or type(error).__name__ == "APITimeoutError")
            )
            if not transient or attempt == max_retries:
                raise
            wait = min(max_wait, 2.0**attempt)
            log.warning(
                "%s failed (%s, HTTP %s); retry %d of %d in %.0f s",
                what,
                type(error).__name__,
                status,
                attempt + 1,
                max_retries,
                wait,
            )
            sleep(wait)
    raise AssertionError("unreachable")


class OpenAIBackend:
    """Chat-completions API; letter scores from the first generated token's ``top_logprobs``."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        top_logprobs: int = 20,
        max_retries: int = 6,
        client=None,
        sleep=time.sleep,
    ):
        self.client = client or openai_client(api_key_env, base_url)
        self.model, self.api_key_env = model, api_key_env
        self.top_logprobs, self.max_retries, self._sleep = top_logprobs, max_retries, sleep

    def describe(self) -> dict:
        return {"backend": "openai", "chat": True, "model_parameters": None}

    def _complete(self, prompt: str, **kwargs):
        return call_api(
            lambda: self.client.chat.completions.create(
                model=self.model, messages=chat_messages(prompt), **kwargs
            ),
            max_retries=self.max_retries,
            sleep=self._sleep,
            api_key_env=self.api_key_env,
            what=f"chat completion ({self.model})",
            endpoint=endpoint_of(self.client),
        )

    def letter_scores(
        self, prompts: list[str], letter_lists: list[list[str]]
    ) -> list[LetterScores]:
        out = []
        for prompt, letters in tqdm(
            zip(prompts, letter_lists, strict=True), total=len(prompts), desc="API"
        ):
            response = self._complete(
                prompt, max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=self.top_logprobs
            )
            top = response.choices[0].logprobs.content[0].top_logprobs
            out.append(
                letter_scoring.from_token_string_logprobs(
                    [(t.token, t.logprob) for t in top], letters
                )
            )
        return out

    def generate(
        self, prompts: list[str], max_new_tokens: int, temperature: float = 0.0, seed: int = 0
    ) -> list[str]:
        return [
            self._complete(p, max_tokens=max_new_tokens, temperature=temperature, seed=seed)
            .choices[0]
            .message.content
            or ""
            for p in tqdm(prompts, desc="API")
        ]


def make_backend(
    model_cfg: dict, *, model_path: str | None = None, adapter: str | None = None
) -> Backend:
    """Build the backend a ``config.llm.models`` entry asks for.

    ``model_path`` overrides the entry's ``path`` (the workflow passes built models such as the tiny one).
    """
    backend = model_cfg.get("backend", "transformers")
    path = model_path or model_cfg.get("path")
    common = {
        "is_chat": bool(model_cfg.get("chat", False)),
        "chat_template_kwargs": model_cfg.get("chat_template_kwargs"),
    }
    if backend == "transformers":
        return TransformersBackend(
            path,
            dtype=model_cfg.get("dtype", "auto"),
            batch_size=int(model_cfg.get("batch_size", 16)),
            generate_batch_size=model_cfg.get("generate_batch_size"),
            adapter=adapter,
            max_length=model_cfg.get("max_length"),
            **common,
        )
    if backend == "vllm":
        return VLLMBackend(
            path,
            dtype=model_cfg.get("dtype", "bfloat16").replace("auto", "bfloat16"),
            tensor_parallel_size=int(model_cfg.get("tensor_parallel_size", 1)),
            max_model_len=int(model_cfg.get("max_length", 4096)),
            adapter=adapter,
            **common,
        )
    if backend == "openai":
        return OpenAIBackend(
            path,
            base_url=model_cfg.get("base_url"),
            api_key_env=model_cfg.get("api_key_env", "OPENAI_API_KEY"),
        )
    raise InputDataError(
        None,
        "llm.models.backend",
        f"unknown backend {backend!r}",
        "use transformers, vllm or openai",
    )
