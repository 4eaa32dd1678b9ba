# Cluster requests that follow the data. The rules whose cost grows with the answers ask for
#   max(their floor, config job_resources.<rule>.<resource> per million answers x the dataset's answers)
# times the attempt (a resubmission after an out-of-memory kill asks for twice as much). The answers are
# known at plan time: the prepared dataset.json's count when it exists, else an estimate from the raw
# files or the generator's configured size (planned_answers). Only mem_mb and runtime (minutes) scale;
# a local run ignores both unless --resources limits them.
import inspect
import json
import math

from gemsflow.data.datasets.atp_synthetic import read_questions, resolve_respondents
from gemsflow.data.datasets.opinionqa import wave_layout
from gemsflow.data.datasets.synthetic import generate_synthetic
from gemsflow.errors import InputDataError

# Bytes of a GEMS-layout responses.csv per answer: Twin 2.4, Dunning-Kruger 3.6. Dividing by 2
# overestimates the answers a little, which asks for a little more than needed, never less.
CSV_BYTES_PER_ANSWER = 2
_PLANNED_ANSWERS = {}


def planned_answers(dataset):
    """The dataset's answers as the plan can know them (None where nothing tells): the prepared
    dataset.json's count, else an upper estimate before the reader drops anything."""
    if dataset not in _PLANNED_ANSWERS:
        _PLANNED_ANSWERS[dataset] = _planned_answers(dataset)
    return _PLANNED_ANSWERS[dataset]


def _planned_answers(dataset):
    prepared = Path(f"results/data/{dataset}/dataset.json")
    if prepared.exists():
        return int(json.loads(prepared.read_text())["counts"]["responses"])
    if dataset not in config["datasets"]:
        return None
    entry = dataset_entry(dataset)
    generator = entry.get("generator")
    if entry["format"] == "opinionqa":
        return _opinionqa_answers(entry, generator)
    if generator is not None and dataset == "synthetic":
        defaults = inspect.signature(generate_synthetic).parameters
        size = {k: generator.get(k, defaults[k].default) for k in defaults}
        return round(
            size["n_individuals"] * size["n_questions"] * (1 - size["missing_rate"])
        )
    responses = Path(entry["dir"]) / f"{entry['prefix']}_responses.csv"
    if responses.exists():
        return responses.stat().st_size // CSV_BYTES_PER_ANSWER
    return None


def _opinionqa_answers(entry, generator):
    """Respondents x questions of each wave: from the .sav headers where the files exist, else from
    the generator's respondents."""
    import pyreadstat

    layout = wave_layout(entry)
    try:
        questions = read_questions(layout["dir"], layout["prefix"])
    except InputDataError:
        return None  # prepare_dataset reports the missing text files
    waves = [w for w in questions if layout["waves"] is None or w in layout["waves"]]
    files = {
        w: Path(layout["raw_dir"]) / layout["file_pattern"].format(wave=w)
        for w in waves
    }
    if all(path.exists() for path in files.values()):
        rows = {
            w: pyreadstat.read_sav(str(path), metadataonly=True)[1].number_rows
            for w, path in files.items()
        }
    elif generator is not None:
        rows = resolve_respondents(generator.get("respondents"), waves)
    else:
        return None
    return sum(rows[w] * len(questions[w]) for w in waves)


def scaled_resource(rule, resource, floor):
    """A rule's ``resources:`` callable: ``floor`` or the per-million-answers request, whichever is
    larger, times the attempt."""
    per_million = config["job_resources"].get(rule, {}).get(resource)

    def request(wildcards, attempt):
        answers = planned_answers(wildcards.dataset) if per_million else None
        need = per_million * answers / 1e6 if answers else 0
        return int(max(floor, math.ceil(need)) * attempt)

    return request
