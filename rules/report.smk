# Metrics of every (model, fold) into one table, and the one-page HTML report.


rule aggregate:
    input:
        fold_outputs("metrics.json"),
    output:
        report(
            "results/metrics.csv",
            caption="../workflow/report/metrics.rst",
            category="Metrics",
        ),
    log:
        "logs/aggregate.log",
    benchmark:
        "logs/benchmarks/aggregate/aggregate.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/aggregate.py"


rule report:
    input:
        metrics="results/metrics.csv",
        predictions=fold_outputs("predictions.csv"),
        val_predictions=fold_outputs("val_predictions.csv"),
        histories=fold_outputs("history.csv"),
        folds="results/folds.csv",
        metadata="results/metadata.csv",
        corpus="results/corpus.json",
    output:
        html=report(
            "reports/report.html",
            caption="../workflow/report/report.rst",
            category="Report",
        ),
        figures=report(
            directory("results/figures"),
            patterns=["{name}.png"],
            caption="../workflow/report/figures.rst",
            category="Figures",
        ),
    params:
        config=config,
        benchmarks=run_benchmarks(),
    log:
        "logs/report.log",
    benchmark:
        "logs/benchmarks/report/report.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/report.py"
