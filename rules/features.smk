# Features cached per actor in HDF5 shards. Each feature's parameters are params of its own jobs,
# so editing one feature rebuilds only that feature's shards (and the models that read them).


rule features:
    input:
        "results/metadata.csv",
    output:
        "results/features/{feature}/actor_{actor}.h5",
    params:
        feature=lookup(dpath="features/{feature}", within=config),
        audio=config["audio"],
    wildcard_constraints:
        feature="|".join(FEATURE_KINDS),
        actor=r"\d\d",
    # openSMILE runs on one core: two actors at once on a 2-core machine
    threads: lambda wildcards: 1 if is_functional(wildcards.feature) else 2
    resources:
        mem_mb=2000,
        runtime=20,
    log:
        "logs/features/{feature}/actor_{actor}.log",
    benchmark:
        "logs/benchmarks/features/{feature}_actor_{actor}.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/features.py"
