# Speech emotion recognition on RAVDESS: CNNs from scratch against transfer learning.
# Run: snakemake --cores 8 --resources gpu=1   (see README.md)
import os

from snakemake.utils import min_version

min_version("9.0")


# The working directory's config.yaml, else the repository's (runs with --directory elsewhere).
configfile: "config.yaml" if os.path.exists("config.yaml") else os.path.join(workflow.basedir, "config.yaml")


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/folds.smk"
include: "rules/weights.smk"
include: "rules/features.smk"
include: "rules/train.smk"
include: "rules/fusion.smk"
include: "rules/report.smk"
include: "rules/final.smk"


rule all:
    input:
        "reports/report.html",
    default_target: True


# Models for use: `snakemake final --cores 8 --resources gpu=1` (config `final.models`).
rule final:
    input:
        final_targets,
