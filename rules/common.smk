# Input functions and derived constants shared by every stage.
from pathlib import Path

from snakemake.utils import validate

from ser.data.download import resolve_source
from ser.data.folds import fold_ids
from ser.features.functionals import is_functional
from ser.models import get_spec, list_models
from ser.models.registry import model_source


validate(config, schema="../workflow/schemas/config.schema.yaml")

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
    return names


MODELS = selected_models()
# The classical family (openSMILE functionals + linear models) is fitted by rule train_classical,
# every other model by the torch trainer of rule train; both write the same fold outputs.
CLASSICAL_MODELS = [m for m in MODELS if get_spec(config["models"][m]["arch"]).family == "classical"]
TORCH_MODELS = [m for m in MODELS if m not in CLASSICAL_MODELS]


def any_of(names):
    """A wildcard constraint matching exactly `names` (none: a pattern that never matches)."""
    return "|".join(names) if names else "(?!)"


def model_spec(model):
    return get_spec(config["models"][model]["arch"])


def audio_source(wildcards=None):
    """Where the audio files are: the user's folder, or the folder a rule unpacks/synthesises."""
    if SOURCE_KIND == "folder":
        return str(SOURCE_PATH)
    if SOURCE_KIND == "synthetic":
        return "resources/synthetic/audio"
    return AUDIO_DIR


def archive(wildcards):
    if SOURCE_KIND == "zip":
        return str(SOURCE_PATH)
    return "resources/ravdess/Audio_Speech_Actors_01-24.zip"


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
    """The source file of the model's family, so that editing it reruns only that model."""
    return model_source(config["models"][wildcards.model]["arch"])


def fold_outputs(name):
    return expand(
        "results/models/{model}/fold_{fold}/{name}", model=MODELS, fold=FOLDS, name=name
    )
