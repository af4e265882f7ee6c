# One job per (model, fold). A model's params are looked up per wildcard, so editing one model
# reruns only that model's jobs. Torch models train in rule train, the classical family
# (openSMILE functionals + linear models) in rule train_classical, the fusion family in rule fuse
# (rules/fusion.smk). Each fold also writes its validation files' predictions
# (val_predictions.csv), which rule fuse chooses its weights on. The resume state lives outside
# the outputs, so that Snakemake does not delete it when a killed job is rerun.


rule train:
    input:
        unpack(train_shards),
        metadata="results/metadata.csv",
        folds="results/folds.csv",
        code=model_code,
        weights=model_weights,
    output:
        model="results/models/{model}/fold_{fold}/model.pt",
        history="results/models/{model}/fold_{fold}/history.csv",
        predictions="results/models/{model}/fold_{fold}/predictions.csv",
        val_predictions="results/models/{model}/fold_{fold}/val_predictions.csv",
        metrics="results/models/{model}/fold_{fold}/metrics.json",
    params:
        model=lookup(dpath="models/{model}", within=config),
        training=config["training"],
        features=model_feature_params,
        protocol=PROTOCOL,
        labels=config["labels"],
        weights_cache=config["weights"]["cache_dir"],
        state_dir="results/.resume/{model}/fold_{fold}",
    wildcard_constraints:
        model=any_of(TORCH_MODELS),
        fold=r"\d+",
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    log:
        "logs/train/{model}/fold_{fold}.log",
    benchmark:
        "logs/benchmarks/train/{model}_fold_{fold}.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/train.py"


rule train_classical:
    input:
        unpack(train_shards),
        metadata="results/metadata.csv",
        folds="results/folds.csv",
        code=model_code,
    output:
        model="results/models/{model}/fold_{fold}/model.npz",
        history="results/models/{model}/fold_{fold}/history.csv",
        predictions="results/models/{model}/fold_{fold}/predictions.csv",
        val_predictions="results/models/{model}/fold_{fold}/val_predictions.csv",
        metrics="results/models/{model}/fold_{fold}/metrics.json",
    params:
        model=lookup(dpath="models/{model}", within=config),
        training=config["training"],
        features=model_feature_params,
        protocol=PROTOCOL,
        labels=config["labels"],
    wildcard_constraints:
        model=any_of(CLASSICAL_MODELS),
        fold=r"\d+",
    # scikit-learn's solvers here are single-threaded; BLAS gains nothing at 1,400 x 1,400
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    log:
        "logs/train/{model}/fold_{fold}.log",
    benchmark:
        "logs/benchmarks/train/{model}_fold_{fold}.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/train.py"
