"""Hidden states of answer-choice texts from a causal LM, for the setting-3 mapping.

Texts are batched with right padding, so each real token keeps its unpadded position and attends only to
real tokens; the state is read at the last text token (``last``) or at an appended EOS token (``eos``).
``hidden_states`` has ``num_hidden_layers + 1`` entries (embedding output first); ``layers`` picks a subset
(negative indices count from the end) and the file stores only those, in bfloat16 by default.
"""

from __future__ import annotations

import logging

import torch
from tqdm import tqdm

from gemsflow.data.survey import SurveyData
from gemsflow.errors import InputDataError
from gemsflow.methods.llm.backends import right_padded
from gemsflow.methods.llm.features import ChoiceFeatures

log = logging.getLogger(__name__)

POSITIONS = ("last", "eos")
STORE_DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}


def resolve_layers(layers, n_states: int) -> list[int]:
    if layers in (None, "all"):
        return list(range(n_states))
    out = []
    for layer in layers:
        index = int(layer)
        index = index + n_states if index < 0 else index
        if not 0 <= index < n_states:
            raise InputDataError(
                None,
                "llm.hidden_states.layers",
                f"layer {layer} out of range",
                f"use -{n_states}..{n_states - 1}",
            )
        out.append(index)
    return sorted(set(out))


@torch.inference_mode()
def extract(
    model,
    tokenizer,
    texts: list[str],
    *,
    position: str = "last",
    layers=None,
    batch_size: int = 8,
    store_dtype: str = "bfloat16",
) -> tuple[torch.Tensor, list[int]]:
    """``[n_texts, n_layers, hidden]`` states and the layer indices they hold."""
    if position not in POSITIONS:
        raise InputDataError(
            None, "position", f"unknown position {position!r}", f"use one of {POSITIONS}"
        )
    device = next(model.parameters()).device
    ids = [list(x) for x in tokenizer(texts)["input_ids"]]
    if position == "eos":
        ids = [x + [tokenizer.eos_token_id] for x in ids]
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit:
        ids = [x[:limit] for x in ids]
    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    n_states = model.config.num_hidden_layers + 1
    chosen = resolve_layers(layers, n_states)
    out = torch.empty(
        len(texts), len(chosen), model.config.hidden_size, dtype=STORE_DTYPES[store_dtype]
    )
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    for start in tqdm(
        range(0, len(order), batch_size), desc="hidden states", disable=len(order) < 100
    ):
        rows = order[start : start + batch_size]
        input_ids, mask = right_padded([ids[i] for i in rows], pad_id, device)
        states = model(
            input_ids=input_ids, attention_mask=mask, output_hidden_states=True
        ).hidden_states
        last = mask.sum(dim=1) - 1
        rows_idx = torch.arange(len(rows), device=device)
        # Gather each layer at the read position before stacking: never hold [B, layers, T, H].
        picked = torch.stack([states[i][rows_idx, last] for i in chosen], dim=1)
        out[torch.tensor(rows)] = picked.to(out.dtype).cpu()
    return out, chosen


def choice_hidden_states(
    data: SurveyData,
    model,
    tokenizer,
    *,
    position: str = "last",
    layers=None,
    batch_size: int = 8,
    store_dtype: str = "bfloat16",
    info: dict | None = None,
) -> ChoiceFeatures:
    texts = data.options["choice_text"].astype(str).tolist()
    states, chosen = extract(
        model,
        tokenizer,
        texts,
        position=position,
        layers=layers,
        batch_size=batch_size,
        store_dtype=store_dtype,
    )
    log.info("hidden states %s for %d choices, layers %s", tuple(states.shape), len(texts), chosen)
    return ChoiceFeatures(
        choice_states=states,
        choices=data.options["choice"].astype(str).tolist(),
        layers=chosen,
        info={"position": position, **(info or {})},
    )
