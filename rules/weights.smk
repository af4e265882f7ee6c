# Pretrained weights: every file the selected models need is fetched and verified once, on the
# submitting host (a localrule), before any training job runs. Clusters whose compute nodes have
# no network: `snakemake --until weights` on the login node, then submit (README).

localrules:
    weights,


rule weights:
    output:
        f"{WEIGHTS_DIR}/{{file}}",
    params:
        record=lambda wildcards: WEIGHT_FILES[wildcards.file].as_dict(),
        cache_dir=lambda wildcards, output: output[0][: -len(wildcards.file)],
    wildcard_constraints:
        file="|".join(re.escape(name) for name in WEIGHT_FILES) or "no^weights",
    log:
        "logs/weights/{file}.log",
    benchmark:
        "logs/benchmarks/weights/{file}.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/weights.py"
