# gemsflow: survey-answer prediction workflow. Rules live in workflow/rules/ by topic;
# computation lives in the gemsflow package (src/gemsflow).


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/synthetic.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/learners.smk"
include: "workflow/rules/scoring.smk"
include: "workflow/rules/gnn.smk"
include: "workflow/rules/llm.smk"
include: "workflow/rules/mapping.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/deliver.smk"


rule all:
    default_target: True
    input:
        all_targets(),
