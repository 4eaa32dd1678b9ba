"""Agentic chain of thought: one reflection per individual, then one JSON answer per question.

The reflection reads the person's profile and their training answers once; every question of that person
reuses it (the reference generated it again for every question). An answer that does not parse is asked
again once with sampling; if it still does not parse, the pair is marked abstained (a uniform distribution,
0 accuracy) and counted as invalid.
"""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pandas as pd

from gemsflow.data.survey import SurveyData, join_answers, letters
from gemsflow.methods.llm import templates
from gemsflow.methods.llm.backends import Backend
from gemsflow.methods.llm.letters import LetterScores, letter_predictions

log = logging.getLogger(__name__)

_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
_LEADING_LETTER = re.compile(r"^\s*[\(\[]?([A-Za-z]{1,2})(?:[\)\]\.:,\s]|$)")
ANSWER_KEYS = ("answer", "response", "choice")


def strip_thinking(text: str) -> str:
    """Reasoning models wrap their thoughts in <think>...</think>; only what follows is the reply."""
    return text.rsplit("</think>", 1)[-1].strip()


def parse_answer(text: str, valid: list[str]) -> str | None:
    """The letter in the last JSON object of ``text`` that names one of ``valid``; None if there is none."""
    allowed = {v.upper() for v in valid}
    for blob in reversed(_OBJECT.findall(strip_thinking(text))):
        try:
            obj = json.loads(blob)
        except json.JSONDecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        lowered = {str(k).strip().lower(): v for k, v in obj.items()}
        for key in ANSWER_KEYS:
            value = lowered.get(key)
            if not isinstance(value, str):
                continue
            match = _LEADING_LETTER.match(value)
            if match and match.group(1).upper() in allowed:
                return match.group(1).upper()
    return None


def prior_answers(
    data: SurveyData, pool: pd.DataFrame, individuals: list[str], max_prior: int | None
) -> dict[str, str]:
    """Individual -> their training answers rendered as answered question blocks (source option order)."""
    q_text = dict(zip(data.questions["question"], data.questions["text"], strict=True))
    opts = {q: g for q, g in data.options.groupby("question", sort=False)}
    out = {}
    grouped = dict(tuple(pool.groupby("individual", sort=False)))
    for person in individuals:
        rows = grouped.get(person)
        if rows is None or rows.empty:
            out[person] = templates.NO_PRIOR_ANSWERS
            continue
        rows = rows.sort_values("question")
        if max_prior is not None:
            rows = rows.head(max_prior)
        blocks = []
        for question, code in zip(rows["question"], rows["code"].astype(int), strict=True):
            group = opts[question]
            codes = group["code"].astype(int).tolist()
            texts = group["text"].astype(str).tolist()
            blocks.append(
                templates.answered_block(
                    q_text[question], texts, letters(len(codes)), codes.index(code)
                )
            )
        out[person] = "\n\n".join(blocks)
    return out


def run_cot(
    backend: Backend,
    data: SurveyData,
    records: list[dict],
    split: pd.DataFrame,
    personas: dict[str, str],
    *,
    expert: str,
    reflection_tokens: int,
    answer_tokens: int,
    max_prior: int | None = 40,
    retry_temperature: float,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict]:
    """Predictions for ``records`` (zero-shot prompt records give codes, letters and the target question)."""
    expert_text = templates.EXPERTS.get(expert, expert)
    people = list(dict.fromkeys(r["individual"] for r in records))
    reflections = _reflect(
        backend, data, split, people, personas, expert_text, reflection_tokens, max_prior, seed
    )
    prompts = prediction_prompts(data, records, personas, expert_text, reflections)
    log.info("predicting %d answers", len(prompts))
    replies = backend.generate(prompts, answer_tokens, seed=seed)
    parsed = [parse_answer(text, r["letters"]) for text, r in zip(replies, records, strict=True)]
    retry = [i for i, p in enumerate(parsed) if p is None]
    if retry:
        log.info(
            "retrying %d unparsable answers with temperature %.2f", len(retry), retry_temperature
        )
        again = backend.generate(
            [prompts[i] for i in retry], answer_tokens, temperature=retry_temperature, seed=seed + 1
        )
        for i, text in zip(retry, again, strict=True):
            parsed[i] = parse_answer(text, records[i]["letters"])
    n_invalid = sum(a is None for a in parsed)
    info = {
        "n_pairs": len(records),
        "n_reflections": len(people),
        "n_retried": len(retry),
        "n_invalid": n_invalid,
        "invalid_rate": n_invalid / len(records) if records else 0.0,
        "expert": expert_text,
        "reflection_tokens": reflection_tokens,
        "answer_tokens": answer_tokens,
        "example_reply": replies[0][:500] if replies else "",
    }
    log.info("agentic CoT: %d of %d answers invalid", n_invalid, len(records))
    return letter_predictions(records, letter_scores(records, parsed)), info


def _reflect(
    backend: Backend,
    data: SurveyData,
    split: pd.DataFrame,
    people: list[str],
    personas: dict[str, str],
    expert_text: str,
    reflection_tokens: int,
    max_prior: int | None,
    seed: int,
) -> dict[str, str]:
    """Individual -> the model's reflection on their profile and training answers (one call each)."""
    pool = join_answers(split[split["part"] == "train"], data.responses, source="split.parquet")
    prior = prior_answers(data, pool, people, max_prior)
    reflection_prompts = [
        templates.REFLECTION_INTRO.format(persona=personas[p], prior=prior[p])
        + "\n\n"
        + templates.REFLECTION_TASK.format(expert=expert_text)
        for p in people
    ]
    log.info("reflecting on %d individuals", len(people))
    replies = backend.generate(reflection_prompts, reflection_tokens, seed=seed)
    return dict(zip(people, (strip_thinking(t) for t in replies), strict=True))


def prediction_prompts(
    data: SurveyData,
    records: list[dict],
    personas: dict[str, str],
    expert_text: str,
    reflections: dict[str, str],
) -> list[str]:
    """One answer prompt per record: persona, expert frame, the person's reflection, the question
    (options in the record's displayed order) and the JSON answer format."""
    q_text = dict(zip(data.questions["question"], data.questions["text"], strict=True))
    opt_text = {
        (q, int(c)): str(t)
        for q, c, t in zip(
            data.options["question"], data.options["code"], data.options["text"], strict=True
        )
    }
    prompts = []
    for record in records:
        texts = [opt_text[(record["question"], int(c))] for c in record["codes"]]
        question = templates.question_block(q_text[record["question"]], texts, record["letters"])
        # The bare answer cue invites a letter; the JSON instruction replaces it.
        question = question.removesuffix(templates.ANSWER_CUE).rstrip()
        prompts.append(
            templates.PREDICTION_INTRO.format(
                persona=personas[record["individual"]],
                expert=expert_text,
                reflection=reflections[record["individual"]],
            )
            + templates.PREDICTION_TASK
            + question
            + templates.PREDICTION_FORMAT.format(letters=", ".join(record["letters"]))
        )
    return prompts


def letter_scores(records: list[dict], parsed: list[str | None]) -> list[LetterScores]:
    """All mass on the parsed letter; an unparsed answer is uniform with no valid mass (abstained)."""
    scores = []
    for record, answer in zip(records, parsed, strict=True):
        n = len(record["letters"])
        if answer is None:
            scores.append(LetterScores(np.full(n, 1.0 / n), 0.0))
        else:
            probs = np.zeros(n)
            probs[record["letters"].index(answer)] = 1.0
            scores.append(LetterScores(probs, 1.0))
    return scores
