"""Render reports/report.html and the figures registered with Snakemake's report (rule report)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/..")  # `ser` of this checkout, in any env

from ser.logs import job_log

with job_log(snakemake.log[0], "report") as log:
    from ser.report.html import build_report

    build_report(
        metrics_csv=snakemake.input.metrics,
        folds_csv=snakemake.input.folds,
        metadata_csv=snakemake.input.metadata,
        benchmark_paths=snakemake.params.benchmarks,
        config=snakemake.params.config,
        out_html=snakemake.output.html,
        predictions=snakemake.input.predictions,
        corpus_json=snakemake.input.corpus,
        figures_dir=snakemake.output.figures,
    )
    log.info("report written to %s", snakemake.output.html)
