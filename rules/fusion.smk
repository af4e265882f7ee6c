# Late fusion (the fusion family): one job per (fusion model, fold), from its members' outputs of
# the same fold. The weights are chosen on the members' validation predictions, then applied to
# their test predictions; the fold outputs have the same form as every other model's.


rule fuse:
    input:
        unpack(fusion_inputs),
        folds="results/folds.csv",
        code=model_code,
    output:
        model="results/models/{model}/fold_{fold}/model.json",
        history="results/models/{model}/fold_{fold}/history.csv",
        predictions="results/models/{model}/fold_{fold}/predictions.csv",
        val_predictions="results/models/{model}/fold_{fold}/val_predictions.csv",
        metrics="results/models/{model}/fold_{fold}/metrics.json",
    params:
        model=lookup(dpath="models/{model}", within=config),
        protocol=PROTOCOL,
    wildcard_constraints:
        model=any_of(FUSION_MODELS),
        fold=r"\d+",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/train/{model}/fold_{fold}.log",
    benchmark:
        "logs/benchmarks/train/{model}_fold_{fold}.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/fuse.py"
