# Final models for use (`snakemake final`): each entry of `final.models` (by default the family
# representative best on validation UA) trained with its own recipe on every actor but the
# validation actors (kept for early stopping and a fusion's weights), and its model card with the
# cross-validated scores of the same recipe from this run.


# The validation-best family representative, when `final.models` names none.
checkpoint final_choice:
    input:
        "results/metrics.csv",
    output:
        "results/final/chosen.json",
    params:
        pinned=config["report"]["compare"],
    log:
        "logs/final/choice.log",
    benchmark:
        "logs/benchmarks/final/choice.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/final_choice.py"


rule final_folds:
    input:
        "results/metadata.csv",
    output:
        "results/final/folds.csv",
    params:
        protocol=PROTOCOL,
    log:
        "logs/final/folds.log",
    benchmark:
        "logs/benchmarks/final/folds.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/final_folds.py"


# The train rule's recipe and script on the final split (fold 0, no test actors).
rule final_train:
    input:
        unpack(train_shards),
        metadata="results/metadata.csv",
        folds="results/final/folds.csv",
        code=model_code,
        weights=model_weights,
    output:
        model="results/final/{model}/model.pt",
        history="results/final/{model}/history.csv",
        val_predictions="results/final/{model}/val_predictions.csv",
        metrics="results/final/{model}/metrics.json",
    params:
        model=lookup(dpath="models/{model}", within=config),
        training=config["training"],
        features=model_feature_params,
        protocol=PROTOCOL,
        labels=config["labels"],
        weights_cache=config["weights"]["cache_dir"],
        state_dir="results/.resume/final/{model}",
    wildcard_constraints:
        model=any_of(FINAL_TORCH),
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=240,
    log:
        "logs/final/{model}/train.log",
    benchmark:
        "logs/benchmarks/final/{model}_train.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/train.py"


# The train_classical rule's recipe on the final split: C (and an encoder head's layer) chosen
# by the same inner cross-validation over the final training actors.
rule final_train_classical:
    input:
        unpack(train_shards),
        metadata="results/metadata.csv",
        folds="results/final/folds.csv",
        code=model_code,
    output:
        model="results/final/{model}/model.npz",
        history="results/final/{model}/history.csv",
        val_predictions="results/final/{model}/val_predictions.csv",
        metrics="results/final/{model}/metrics.json",
    params:
        model=lookup(dpath="models/{model}", within=config),
        training=config["training"],
        features=model_feature_params,
        protocol=PROTOCOL,
        labels=config["labels"],
    wildcard_constraints:
        model=any_of(FINAL_LINEAR),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    log:
        "logs/final/{model}/train.log",
    benchmark:
        "logs/benchmarks/final/{model}_train.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/train.py"


# The fuse rule on the final split: weights chosen on the validation actors' files from the
# members' final models, which model.json names.
rule final_fuse:
    input:
        unpack(final_fusion_inputs),
        folds="results/final/folds.csv",
        code=model_code,
    output:
        model="results/final/{model}/model.json",
        history="results/final/{model}/history.csv",
        val_predictions="results/final/{model}/val_predictions.csv",
        metrics="results/final/{model}/metrics.json",
    params:
        model=lookup(dpath="models/{model}", within=config),
        protocol=PROTOCOL,
    wildcard_constraints:
        model=any_of(FINAL_FUSION),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/final/{model}/train.log",
    benchmark:
        "logs/benchmarks/final/{model}_train.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/fuse.py"


# Calibrated probabilities (ser.use.calibration): a temperature fitted on the validation actors'
# predictions, checked on each cross-validation fold's test files with that fold's own.
rule calibration:
    input:
        val="results/final/{model}/val_predictions.csv",
        folds=model_fold_predictions,
    output:
        "results/final/{model}/calibration.json",
    wildcard_constraints:
        model=any_of(FINAL_CANDIDATES),
    log:
        "logs/final/{model}/calibration.log",
    benchmark:
        "logs/benchmarks/final/{model}_calibration.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/calibrate.py"


rule model_card:
    input:
        metrics="results/final/{model}/metrics.json",
        calibration="results/final/{model}/calibration.json",
        history="results/final/{model}/history.csv",
        final_folds="results/final/folds.csv",
        folds="results/folds.csv",
        cv=model_fold_metrics,
        corpus="results/corpus.json",
    output:
        "results/final/{model}/model_card.md",
    wildcard_constraints:
        model=any_of(FINAL_CANDIDATES),
    log:
        "logs/final/{model}/model_card.log",
    benchmark:
        "logs/benchmarks/final/{model}_model_card.tsv"
    conda:
        "../envs/ser.yaml"
    script:
        "../scripts/model_card.py"
