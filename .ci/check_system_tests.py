"""Fail unless a pytest JUnit report shows the system tests (real Chromium, real SLURM, the real
SmolLM2 model) ran and passed.

    python3 .ci/check_system_tests.py report.xml

Run by .ci/run after `make test`: a skipped, failed or missing (renamed, deselected) system test is an
error, so CI cannot go green without them. Standard library only: it runs before and without the venv.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

# (JUnit classname, test name): the tests that use the pieces .ci/system.sh sets up.
SYSTEM_TESTS = {
    ("tests.test_report", "test_report_opens_in_chromium_with_the_leaderboard_visible"): "Chromium",
    ("tests.test_slurm", "test_setting_target_builds_through_slurm"): "SLURM",
    # The real model `make test` installs (requirements/packaged-models.txt): chat and plain scoring,
    # hidden states.
    (
        "tests.test_llm_real_model",
        "test_letter_scores_are_finite_distributions_that_follow_the_prompt[False]",
    ): "SmolLM2",
    (
        "tests.test_llm_real_model",
        "test_letter_scores_are_finite_distributions_that_follow_the_prompt[True]",
    ): "SmolLM2",
    ("tests.test_llm_real_model", "test_hidden_states_cover_every_layer_at_the_model_width"): (
        "SmolLM2"
    ),
}


def problems(report: str) -> list[str]:
    outcome = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        key = (case.get("classname"), case.get("name"))
        if key in SYSTEM_TESTS:
            bad = [child.tag for child in case if child.tag in ("skipped", "failure", "error")]
            outcome[key] = bad[0] if bad else "passed"
    found = []
    for key, piece in SYSTEM_TESTS.items():
        state = outcome.get(key, "not run")
        if state != "passed":
            found.append(f"{piece} test {key[0]}::{key[1]}: {state}")
    return found


def main(report: str) -> int:
    found = problems(report)
    for line in found:
        print(f"check_system_tests: {line}", file=sys.stderr)
    if not found:
        print(f"check_system_tests: {', '.join(SYSTEM_TESTS.values())} tests ran and passed")
    return 1 if found else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 .ci/check_system_tests.py JUNIT_XML")
    sys.exit(main(sys.argv[1]))
