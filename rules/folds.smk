# Speaker-independent folds by actor (the default everywhere), with validation actors held out of
# every training fold.


rule folds:
    input:
        "results/metadata.csv",
    output:
        "results/folds.csv",
    params:
        protocol=PROTOCOL,
    log:
        "logs/folds.log",
    benchmark:
        "logs/benchmarks/folds/folds.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/folds.py"
