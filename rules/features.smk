# Features cached per actor in HDF5 shards, all actors of one kind in one job: a job's start-up
# (Python, torch) costs more than most kinds' extraction for one actor (benchmarks/README.md,
# startup.py). Each feature's parameters are params of its own job, so editing one feature
# rebuilds only that feature's shards (and the models that read them). A pretrained encoder's
# kind (ser.encoders) runs on the GPU when there is one, and takes longer on a CPU.


rule features:
    input:
        metadata="results/metadata.csv",
        weights=feature_weights,
    output:
        expand("results/features/{{feature}}/actor_{actor:02d}.h5", actor=ACTORS),
    params:
        feature=lookup(dpath="features/{feature}", within=config),
        audio=config["audio"],
        actors=ACTORS,
        weights_dir=WEIGHTS_DIR,
    wildcard_constraints:
        feature="|".join(FEATURE_KINDS),
    threads: 2
    resources:
        mem_mb=feature_memory,
        runtime=feature_runtime,
        gpu=feature_gpus,
    log:
        "logs/features/{feature}.log",
    benchmark:
        "logs/benchmarks/features/{feature}.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/features.py"
