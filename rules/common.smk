# Input functions and derived constants shared by every stage.
import json
import re
from pathlib import Path

from snakemake.utils import validate

from ser.data.download import resolve_source
from ser.data.folds import fold_ids
from ser.data.ravdess import folder_listing
from ser.encoders import hub_weight_files, is_encoder, runs_encoder


validate(config, schema="../workflow/schemas/config.schema.yaml")

# after the validation: a config error is reported before torch loads (seconds on 2 cores)
from ser.models import get_spec, list_models
from ser.models.fusion import run_members
from ser.models.registry import model_sources, required_sample_rate, required_weights

SOURCE_KIND, SOURCE_PATH = resolve_source(config["ravdess"]["source"])
ACTORS = sorted(config["ravdess"]["actors"])
PROTOCOL = config["protocol"]
FOLDS = fold_ids(PROTOCOL["scheme"], ACTORS, PROTOCOL["k"])
FEATURE_KINDS = sorted(config["features"])
AUDIO_DIR = "resources/ravdess/audio"


def selected_models():
    """The `models` entries to train, checked against the registry before anything runs."""
    names = config["run_models"] or list(config["models"])
    unknown = [n for n in names if n not in config["models"]]
    if unknown:
        raise ValueError(
            f"run_models names {unknown}, which are not entries of `models` "
            f"(entries: {sorted(config['models'])})"
        )
    for name in names:
        arch = config["models"][name]["arch"]
        if arch not in list_models():
            raise ValueError(
                f"models.{name}.arch is {arch!r}, not a known model; valid: {list_models()}"
            )
        check_sample_rate(name)
    return names


def check_sample_rate(name):
    """A model whose front-end is built for one sample rate (Cnn14) must get audio at that rate."""
    cfg = config["models"][name]
    needed = required_sample_rate(cfg["arch"], cfg.get("hparams") or {})
    given = config["audio"]["sample_rate"]
    if needed is not None and needed != given:
        raise ValueError(
            f"models.{name} ({cfg['arch']}) takes {needed} Hz audio, but audio.sample_rate is "
            f"{given}; set audio.sample_rate: {needed}, or models.{name}.hparams.sample_rate"
        )


MODELS = selected_models()
WEIGHTS_DIR = config["weights"]["cache_dir"].rstrip("/")


def weight_files(model):
    cfg = config["models"][model]
    return required_weights(cfg["arch"], cfg.get("pretrained", "none"), cfg.get("hparams") or {})


# file name -> WeightFile, for every published weights file a selected model needs
WEIGHT_FILES = {w.name: w for model in MODELS for w in weight_files(model)}


def model_weights(wildcards):
    """The cached weight files the model starts from (rule weights fetches them)."""
    return [f"{WEIGHTS_DIR}/{w.name}" for w in weight_files(wildcards.model)]


def models_of(trainer):
    return [m for m in MODELS if get_spec(config["models"][m]["arch"]).trainer == trainer]


# Linear models (the classical family's openSMILE functionals, the pretrained encoders' `_lr`
# heads) are fitted by rule train_classical, the fusion family by rule fuse from its members'
# predictions, every other model by the torch trainer of rule train; all write the same fold
# outputs.
CLASSICAL_MODELS = models_of("linear")
FUSION_MODELS = models_of("fusion")
TORCH_MODELS = models_of("torch")
# fusion model -> its members, checked before anything runs
FUSION_MEMBERS = {
    m: run_members(m, config["models"][m].get("hparams") or {}, MODELS, PROTOCOL["n_val_actors"],
                   FUSION_MODELS)
    for m in FUSION_MODELS
}
# `members: all` spelt out, so that the fuse jobs read (and their params record) the names
for _fusion, _members in FUSION_MEMBERS.items():
    config["models"][_fusion].setdefault("hparams", {})["members"] = _members


def any_of(names):
    """A wildcard constraint matching exactly `names` (none: a pattern that never matches)."""
    return "|".join(names) if names else "(?!)"


def model_spec(model):
    return get_spec(config["models"][model]["arch"])


# the feature kinds the selected models read
RUN_KINDS = sorted({kind for m in MODELS for kind in model_spec(m).input.features})


def encoder_weights(kind):
    """A hub encoder's files at its configured revision (packaged encoders and other kinds: none)."""
    return hub_weight_files(kind, config["features"][kind]) if is_encoder(kind) else []


# the hub encoders' files too, fetched by rule weights like the models' (in the hub's layout)
WEIGHT_FILES.update({w.name: w for kind in RUN_KINDS for w in encoder_weights(kind)})


def feature_weights(wildcards):
    """The cached files of the encoder that computes the kind (rule weights fetches them)."""
    return [f"{WEIGHTS_DIR}/{w.name}" for w in encoder_weights(wildcards.feature)]


def audio_source(wildcards=None):
    """Where the audio files are: the user's folder (`ancient`: corpus_listing decides when it
    changed), or the folder a rule unpacks/synthesises."""
    if SOURCE_KIND == "folder":
        return ancient(str(SOURCE_PATH))
    if SOURCE_KIND == "synthetic":
        return "resources/synthetic/audio"
    return AUDIO_DIR


def corpus_listing(wildcards=None):
    """A param: the digest of the user's folder's audio files (ser.data.ravdess.folder_listing)."""
    return folder_listing(SOURCE_PATH) if SOURCE_KIND == "folder" else ""


def archive(wildcards):
    if SOURCE_KIND == "zip":
        return str(SOURCE_PATH)
    return "resources/ravdess/Audio_Speech_Actors_01-24.zip"


def corpus_inputs(wildcards):
    """The metadata, and the zip when there is one, so the record follows the audio it names."""
    inputs = {"metadata": "results/metadata.csv", "audio": audio_source(wildcards)}
    if SOURCE_KIND in ("zenodo", "zip"):
        inputs["archive"] = archive(wildcards)
    return inputs


def feature_gpus(wildcards):
    """A pretrained encoder's extraction runs on a GPU when there is one; other kinds never."""
    return 1 if runs_encoder(wildcards.feature) else 0


def feature_runtime(wildcards):
    """Minutes: CREPE full at a 10 ms hop takes ~12 h of one CPU core for 1,440 files."""
    return 720 if runs_encoder(wildcards.feature) else 30


def feature_memory(wildcards):
    return 4000 if runs_encoder(wildcards.feature) else 2000


def shards_of(kind):
    return expand("results/features/{feature}/actor_{actor:02d}.h5", feature=kind, actor=ACTORS)


def train_shards(wildcards):
    """Every actor's shard of each feature kind the model reads (its InputSpec)."""
    return {kind: shards_of(kind) for kind in model_spec(wildcards.model).input.features}


def model_feature_params(wildcards):
    """The parameters of only the feature kinds the model reads: editing another kind's
    parameters must not retrain it."""
    return {kind: config["features"][kind] for kind in model_spec(wildcards.model).input.features}


def model_code(wildcards):
    """Every ser/models source file the model's family imports, so that editing one reruns
    exactly the models built from it."""
    return model_sources(config["models"][wildcards.model]["arch"])


def fold_outputs(name):
    return expand(
        "results/models/{model}/fold_{fold}/{name}", model=MODELS, fold=FOLDS, name=name
    )


def run_benchmarks():
    """The benchmark file of every job this configuration runs before the report, by name: the
    report reads these only, never whatever else lies under logs/benchmarks (jobs of models no
    longer run, say)."""
    jobs = {"synthetic": ["synthesize"], "zenodo": ["download", "unpack"], "zip": ["unpack"]}
    paths = [f"logs/benchmarks/{rule}/{rule}.tsv"
             for rule in [*jobs.get(SOURCE_KIND, []), "metadata", "corpus", "folds", "aggregate"]]
    paths += expand("logs/benchmarks/features/{feature}.tsv", feature=RUN_KINDS)
    paths += expand("logs/benchmarks/train/{model}_fold_{fold}.tsv", model=MODELS, fold=FOLDS)
    return paths


def final_models():
    """The `final.models` entries, which this run must cross-validate too (their model cards
    quote the cross-validated scores of the same recipe); empty: the validation-best family
    representative, which only the run's results name (checkpoint final_choice)."""
    names = config["final"]["models"]
    untrained = [n for n in names if n not in MODELS]
    if untrained:
        raise ValueError(
            f"final.models names {untrained}, which this run does not cross-validate "
            f"(run_models trains {MODELS}); their model cards need those scores"
        )
    return names


FINAL_MODELS = final_models()
# Every model a final target may train: the named ones and their fusions' members, or, for the
# validation-best, any model of the run.
FINAL_CANDIDATES = sorted(
    {m for n in FINAL_MODELS for m in [n, *FUSION_MEMBERS.get(n, [])]}
    if FINAL_MODELS
    else MODELS
)
FINAL_TORCH = [m for m in FINAL_CANDIDATES if m in TORCH_MODELS]
FINAL_LINEAR = [m for m in FINAL_CANDIDATES if m in CLASSICAL_MODELS]
FINAL_FUSION = [m for m in FINAL_CANDIDATES if m in FUSION_MODELS]


def final_artefact(model):
    """model.pt of a torch model, model.npz of a linear one, model.json of a fusion."""
    ext = "npz" if model in CLASSICAL_MODELS else "json" if model in FUSION_MODELS else "pt"
    return f"results/final/{model}/model.{ext}"


def final_targets(wildcards):
    """The final models' artefacts and cards: `final.models`, or the one final_choice chose."""
    names = FINAL_MODELS
    if not names:
        with checkpoints.final_choice.get().output[0].open() as f:
            names = [json.load(f)["model"]]
    return [final_artefact(m) for m in names] + [
        f"results/final/{m}/model_card.md" for m in names
    ]


def final_fusion_inputs(wildcards):
    """Each member's final model, validation predictions and metrics, in member order."""
    members = FUSION_MEMBERS[wildcards.model]
    return {
        "models": [final_artefact(m) for m in members],
        "val_predictions": [f"results/final/{m}/val_predictions.csv" for m in members],
        "metrics": [f"results/final/{m}/metrics.json" for m in members],
    }


def model_fold_metrics(wildcards):
    """Every cross-validation fold's metrics.json of one model."""
    return expand("results/models/{model}/fold_{fold}/metrics.json", model=wildcards.model,
                  fold=FOLDS)


def model_fold_predictions(wildcards):
    """Every cross-validation fold's validation and test predictions of one model."""
    return expand("results/models/{model}/fold_{fold}/{name}", model=wildcards.model,
                  fold=FOLDS, name=("val_predictions.csv", "predictions.csv"))


def fusion_inputs(wildcards):
    """Each member's validation and test predictions and metrics of the fold, in member order."""
    return {file.split(".")[0]: [f"results/models/{member}/fold_{wildcards.fold}/{file}"
                                 for member in FUSION_MEMBERS[wildcards.model]]
            for file in ("val_predictions.csv", "predictions.csv", "metrics.json")}
