# gemsflow: survey-answer prediction workflow. Rules live in workflow/rules/ by topic;
# computation lives in the gemsflow package (src/gemsflow).


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/scoring.smk"


rule all:
    input:
        all_targets(),
    default_target: True
