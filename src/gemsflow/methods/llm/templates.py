"""Every piece of prompt wording gemsflow sends to a language model, in one place.

Edit the strings here to change what the models read; the builders in ``prompts.py`` and ``agentic.py``
only assemble these pieces. The layout follows the reference method (persona block, optional worked
examples from the same person, the target question with lettered options, an answer cue) but the wording is
gemsflow's own.
"""

from __future__ import annotations

QUESTION_LABEL = "Question:"
ANSWER_CUE = "Answer:"

PERSONA_HEADER = "Below is a profile of a survey respondent. Reply to the survey question exactly as this person would."
PERSONA_ID_LABEL = "Respondent id"

# Used by chat models: one system turn before the prompt.
SYSTEM_MESSAGE = (
    "You simulate a survey respondent. Reply with the letter of exactly one of the listed options and "
    "nothing else."
)

# Agentic chain of thought: one reflection per person, then one prediction per question.
REFLECTION_INTRO = (
    "Profile of the respondent:\n{persona}\n\nAnswers this respondent already gave:\n{prior}"
)
NO_PRIOR_ANSWERS = "(none recorded)"
REFLECTION_TASK = (
    "You are {expert}. Study the profile and the earlier answers above and write between 5 and 20 short "
    "notes on what they reveal about this respondent's views, habits and likely reasoning. Each note should "
    "be one sentence."
)
PREDICTION_INTRO = (
    "Profile of the respondent:\n{persona}\n\nNotes written by {expert} after studying this respondent:\n"
    "{reflection}\n\n-----\n\n"
)
PREDICTION_TASK = (
    "Predict how this respondent answers the question below. Work through it briefly: (1) restate what each "
    "option means, (2) say which option fits the respondent's profile and notes, (3) give your reason, "
    "(4) then commit to a single option as the respondent would answer at first glance.\n\n"
)
PREDICTION_FORMAT = (
    '\n\nEnd your reply with a JSON object of the form {{"answer": "<letter>"}} where <letter> is one of '
    "{letters}."
)

# Experts whose perspective the reflection takes; config `llm.cot.experts` maps datasets to one of these
# or to free text.
EXPERTS = {
    "political_scientist": "a political scientist who studies public opinion",
    "psychologist": "a cognitive psychologist who studies self-assessment and test performance",
    "survey_methodologist": "a survey methodologist who studies how people answer questionnaires",
}


def persona_block(individual: str, trait_lines: list[tuple[str, str]], header: bool = True) -> str:
    """Header (prompts only), id line and one ``<description>: <value>`` line per known trait."""
    lines = [PERSONA_HEADER] if header else []
    lines.append(f"{PERSONA_ID_LABEL}: {individual}")
    lines += [f"{description}: {_capitalise(value)}" for description, value in trait_lines]
    return "\n".join(lines)


def question_block(question_text: str, option_texts: list[str], marks: list[str]) -> str:
    """The question, its lettered options and the answer cue (no answer)."""
    lines = [f"{QUESTION_LABEL} {question_text.strip()}".rstrip()]
    lines += [f"{mark}. {text}" for mark, text in zip(marks, option_texts, strict=True)]
    lines += ["", ANSWER_CUE]
    return "\n".join(lines)


def answered_block(
    question_text: str, option_texts: list[str], marks: list[str], chosen: int
) -> str:
    """A question block followed by the person's own answer, used as a worked example."""
    return f"{question_block(question_text, option_texts, marks)} {marks[chosen]}. {option_texts[chosen]}"


def assemble(persona: str, examples: list[str], target: str) -> str:
    """Persona, examples (least similar first) and the target question, separated by blank lines."""
    return "\n\n".join([persona, *examples, target])


def _capitalise(value: str) -> str:
    value = str(value).strip()
    return value[:1].upper() + value[1:]
