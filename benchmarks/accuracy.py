"""Accuracy on the real RAVDESS corpus, next to the published row for the same model.

Runs the pipeline (the same Snakefile a user runs) on the real corpus under a protocol preset and
prints mean ± std UA (unweighted accuracy), accuracy (WA) and macro F1 per model beside the published numbers of
ser/reference/published_results.csv. It trains the models that are practical on a 2-core CPU by
default, every one from scratch (`--pretrained none`, the default: no weights can be fetched
offline). On a GPU with the weights at hand pass --models with the rest and `--pretrained config`
to keep each model's ImageNet/AudioSet weights from config.yaml.

    python benchmarks/accuracy.py --protocol dchung_4fold
    python benchmarks/accuracy.py --protocol emobox_6fold --models cnnx cnn1d_lstm
    python benchmarks/accuracy.py --protocol emobox_6fold --models cnn14 resnet18 --pretrained config
    python benchmarks/accuracy.py --protocol loso --models egemaps_lr compare_lr compare_svm
    python benchmarks/accuracy.py --protocol dchung_4fold --models cnn1d_lstm --seeds 0 1 2
    python benchmarks/accuracy.py --protocol emobox_6fold --configfile variant.yaml \
        --workdir benchmarks/out/accuracy_variant
    python benchmarks/accuracy.py --protocol emobox_6fold --models cnnx compare_lr fusion \
        --configfile workflow/presets/fusion.yaml      # late fusion of the two (docs/fusion.md)

`--configfile` layers more config files over the preset (a recipe variant to screen under a
protocol); give such a run its own `--workdir`, or it retrains the preset's jobs in place.

`--select validation` screens recipe variants without the test folds: every `--variants` file
(each layered over the preset and `--configfile`, in `<workdir>/<variant>/<protocol>`) and every
model is a candidate; candidates are ranked by mean validation UA over folds (the kept
checkpoints' scores in metrics.json, ties by name) and only the chosen one's test numbers are
printed. Each fold's training job also scores its test actors (the trainer writes them beside
the model), so the screen cannot avoid computing the others' test scores; it never reads them into
the choice and never prints them. A protocol without validation actors (dchung_4fold) cannot be
screened this way: the script says so and stops. Leave fusion models out of a screen: their
validation UA is that of weights chosen on the same validation files, so it flatters them.

    python benchmarks/accuracy.py --protocol emobox_6fold --models cnnx --select validation \
        --variants workflow/presets/whole_clip.yaml augment.yaml --workdir benchmarks/out/screen

`--folds` restricts a run to some folds (their training jobs only, no report): a cheaper screen
whose ranking still reads validation actors only. Its test table covers those folds alone, so
rerun the chosen candidate on every fold for the number to report.

    python benchmarks/accuracy.py --protocol emobox_6fold --models cnn6 --select validation \
        --folds 1 2 --variants a.yaml b.yaml --workdir benchmarks/out/screen_cnn6

With several `--seeds` each seed trains every fold again in its own work directory (seed 0 in
`<workdir>/<protocol>`, seed s in `<workdir>/<protocol>_seed<s>`), and the table adds the mean and
standard deviation across seeds of the fold means: how far one seed's number can move.
"""
from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ser.data.labels import class_names  # noqa: E402
from ser.report.inputs import published_results  # noqa: E402
from ser.report.published import FOLD_FILES, comparability  # noqa: E402

# alexnet_attn rather than resnet18: one step takes 0.81 s on one core against 2.14 s
CPU_MODELS = ["kaggle_cnn1d", "cnnx", "cnn1d_lstm", "cnn6", "alexnet_attn"]
# Our model names against the `model` column of the published table (dchung1209/RAVDESS rows).
PUBLISHED_NAMES = {"cnnx": "CNN-X", "cnn1d_lstm": "1DCNNLSTM", "cnn14_attn": "CNN-14 + Attn",
                   "resnet18": "ResNet", "vgg19_bn_attn": "VGG19 + Attn",
                   "alexnet_attn": "AlexNet + Attn", "cnn14": "CNN-14"}


WALL_LEDGER = "wall_seconds.tsv"  # one line per call: the models asked for, wall seconds


def seed_workdir(root: Path, protocol: str, seed: int) -> Path:
    """Seed 0 keeps the single-seed directory, so earlier results are reused."""
    return root / (protocol if seed == 0 else f"{protocol}_seed{seed}")


def snakemake_command(protocol: str, workdir: Path, cores: int, configfiles: list[Path],
                      extra: list[str], targets: list[str] = ()) -> list[str]:
    """config.yaml, then the preset, then `configfiles`, then the run's own overrides."""
    configs = [REPO / "config.yaml", REPO / "workflow" / "presets" / f"{protocol}.yaml",
               *(c.resolve() for c in configfiles), workdir / "benchmark.yaml"]
    # targets first: after --configfile they would be read as more config files
    return [sys.executable, "-m", "snakemake", *targets, "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(workdir), "--cores", str(cores), "--resources", "gpu=1",
            "--configfile", *map(str, configs), *extra]


def fold_targets(models: list[str], folds: list[int]) -> list[str]:
    """The metrics.json of each model on each of `folds`: Snakemake targets instead of the report."""
    return [f"results/models/{m}/fold_{f}/metrics.json" for m in models for f in folds]


def read_run(workdir: Path, models: list[str], folds: list[int]) -> pd.DataFrame:
    """One row per model x fold: results/metrics.csv, or the folds' metrics.json of a `--folds` run."""
    from ser.report.aggregate import aggregate

    if not folds:
        return pd.read_csv(workdir / "results" / "metrics.csv")
    return aggregate(workdir / target for target in fold_targets(models, folds))


def run_pipeline(protocol: str, models: list[str], corpus: Path, workdir: Path, cores: int,
                 scratch: bool, seed: int, configfiles: list[Path], extra: list[str],
                 targets: list[str] = ()) -> float:
    """Run the workflow into `workdir` (its report, or `targets`); the wall time in seconds."""
    override = {"ravdess": {"source": str(corpus)}, "run_models": models}
    entry = {"pretrained": "none"} if scratch else {}
    if seed:  # per model, so no preset can shadow it; seed 0 leaves the config as it was
        entry["seed"] = seed
    if entry:
        override["models"] = {m: dict(entry) for m in models}
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "benchmark.yaml").write_text(yaml.safe_dump(override))
    cmd = snakemake_command(protocol, workdir, cores, configfiles, extra, list(targets))
    start = time.monotonic()
    subprocess.run(cmd, check=True)
    elapsed = time.monotonic() - start
    with open(workdir / WALL_LEDGER, "a") as ledger:  # a run split over calls keeps its cost
        ledger.write(f"{' '.join(models)}\t{elapsed:.1f}\n")
    return elapsed


def ledger_seconds(workdir: Path, models: list[str]) -> float:
    """Wall seconds of every call into `workdir` that trained one of `models`: the cost of a run
    stopped and resumed, which the call that finds every fold done would put near zero."""
    path = workdir / WALL_LEDGER
    if not path.exists():
        return 0.0
    calls = [line.split("\t") for line in path.read_text().splitlines() if "\t" in line]
    return sum(float(s) for names, s in calls if set(names.split()) & set(models))


def pct(values: pd.Series) -> str:
    """Mean ± sample std in percent ('± -' for a single value)."""
    std = f"{100 * values.std():.2f}" if len(values) > 1 else "-"
    return f"{100 * values.mean():.2f} ± {std}"


def comparison(metrics: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """Mean ± std per model beside the comparable published row (same model and weights).

    `metrics` holds one row per fold and seed (column `seed`); std is across folds, and with
    several seeds `across_seeds` gives the mean ± std of the seeds' fold means."""
    published = published_results()
    rows = []
    for model, group in metrics.groupby("model"):
        # the report's rule: same fold list, same classes, and every fold of it run
        marked = comparability(published, protocol, len(class_names(group["label_set"].iloc[0])),
                               group["fold"].unique().tolist())
        same = marked[marked["comparable"]]
        pretrained = group["pretrained"].iloc[0]
        # a published row counts only for the same weights: scratch AlexNet is not ImageNet's
        pub = same[(same["model"] == PUBLISHED_NAMES.get(model, ""))
                   & (same["weights"] == ("scratch" if pretrained == "none" else pretrained))]
        per_seed = group.groupby("seed")
        rows.append({
            "model": model, "family": group["family"].iloc[0], "weights": group["weights"].iloc[0],
            "folds": per_seed.size().iloc[0], "seeds": per_seed.ngroups,
            "epochs_run": round(group["epochs_run"].mean(), 1),
            "ua": pct(group.unweighted_accuracy), "accuracy": pct(group.accuracy),
            "f1_macro": pct(group.f1_macro),
            "accuracy_per_seed": " / ".join(f"{100 * a:.2f}" for a in per_seed.accuracy.mean()),
            "across_seeds": pct(per_seed.accuracy.mean()),
            "published_ua": f"{100 * pub.recall_macro.iloc[0]:.2f}" if len(pub) else "-",
            "published_accuracy": f"{100 * pub.accuracy.iloc[0]:.2f}" if len(pub) else "-",
            "published_f1": f"{100 * pub.f1_macro.iloc[0]:.2f}" if len(pub) else "-",
            "train_minutes": round(group["train_seconds"].sum() / 60, 1),
        })
    return pd.DataFrame(rows)


def rank_by_validation(metrics: pd.DataFrame) -> pd.DataFrame:
    """Candidates (variant, model) by mean validation UA over folds and seeds, best first (ties
    by name); only validation columns, so no test score can leak into the choice."""
    if "val_unweighted_accuracy" not in metrics or metrics["val_unweighted_accuracy"].isna().any():
        raise ValueError("--select validation needs every fold's validation UA, and some folds "
                         "have none (a protocol without validation actors, e.g. dchung_4fold, or "
                         "metrics.json written before validation scores were recorded)")
    ranking = metrics.groupby(["variant", "model"], as_index=False).agg(
        folds=("fold", "nunique"), val_ua=("val_unweighted_accuracy", "mean"),
        val_ua_std=("val_unweighted_accuracy", "std"), val_wa=("val_accuracy", "mean"))
    ranking = ranking.sort_values(["val_ua", "variant", "model"], ascending=[False, True, True],
                                  ignore_index=True)
    return ranking.assign(chosen=[i == 0 for i in range(len(ranking))])


def selection_report(metrics: pd.DataFrame, protocol: str) -> str:
    """The validation ranking of every candidate, then the test table of the chosen one only."""
    ranking = rank_by_validation(metrics)
    best = ranking.iloc[0]
    shown = ranking.assign(val_ua=(100 * ranking.val_ua).round(2),
                           val_ua_std=(100 * ranking.val_ua_std).round(2),
                           val_wa=(100 * ranking.val_wa).round(2))
    chosen = metrics[(metrics["variant"] == best["variant"]) & (metrics["model"] == best["model"])]
    return (f"validation screen ({len(ranking)} candidates, ranked by mean validation UA; test "
            f"scores of the others are not shown):\n{shown.to_markdown(index=False)}\n\n"
            f"chosen: {best['model']} with variant {best['variant']}; its test scores:\n"
            f"{comparison(chosen, protocol).to_markdown(index=False)}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=sorted([*FOLD_FILES, "loso"]),
                        default="dchung_4fold", help="a preset of workflow/presets")
    parser.add_argument("--models", nargs="+", default=CPU_MODELS)
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/ravdess-16k")
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks/out/accuracy")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--pretrained", choices=["none", "config"], default="none",
                        help="none: train every model from scratch; config: config.yaml's weights")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="training seeds; each trains every fold again in its own workdir")
    parser.add_argument("--configfile", type=Path, nargs="+", default=[],
                        help="config files layered over the preset (a variant to screen)")
    parser.add_argument("--select", choices=["none", "validation"], default="none",
                        help="validation: rank --variants x --models by validation UA and print "
                             "the test scores of the chosen one only")
    parser.add_argument("--variants", type=Path, nargs="+", default=[],
                        help="with --select validation: one config file per recipe variant")
    parser.add_argument("--folds", type=int, nargs="+", default=[],
                        help="train only these folds (a cheaper screen); default: every fold")
    parser.add_argument("--registry", type=Path, default=REPO / "benchmarks/results/registry.csv",
                        help="results registry the run's rows go to (a run of every fold only)")
    parser.add_argument("--no-registry", action="store_true", help="write no registry rows")
    parser.add_argument("--rerun-check", action="store_true",
                        help="compare the run's rows with the registry's rows of the same model, "
                             "protocol and --setup (same seed: identical folds?) instead of "
                             "writing them")
    parser.add_argument("--setup", default=None,
                        help="the registry's set-up cell (default: the config files and weights)")
    parser.add_argument("--chosen-by", nargs="+", default=[], metavar="MODEL=HOW",
                        help="how each model's recipe was chosen, for the registry")
    parser.add_argument("snakemake_args", nargs="*", help="passed on to snakemake (after --)")
    args = parser.parse_args()
    for config in [*args.configfile, *args.variants]:  # before any work directory is written
        if not config.is_file():
            parser.error(f"{config}: no such config file")
    if args.variants and args.select != "validation":
        parser.error("--variants is for --select validation")
    stems = [v.stem for v in args.variants]
    if len(set(stems)) < len(stems):  # each variant trains in a folder named after its file
        parser.error(f"--variants must have distinct file names, got {stems}")
    return args


def main() -> None:
    args = parse_args()
    variants = [(v.stem, [*args.configfile, v]) for v in args.variants] or \
        [("preset", args.configfile)]
    wall, ledger, runs = 0.0, 0.0, []
    for name, configfiles in variants:
        root = args.workdir if len(variants) == 1 else args.workdir / name
        for seed in args.seeds:
            workdir = seed_workdir(root, args.protocol, seed)
            wall += run_pipeline(args.protocol, args.models, args.corpus, workdir, args.cores,
                                 args.pretrained == "none", seed, configfiles,
                                 args.snakemake_args, fold_targets(args.models, args.folds))
            runs.append(read_run(workdir, args.models, args.folds).assign(variant=name))
            ledger += ledger_seconds(workdir, args.models)
    metrics = pd.concat(runs, ignore_index=True)  # has a `seed` column
    metrics = metrics[metrics["model"].isin(args.models)]
    variant = f" + {' + '.join(map(str, args.configfile))}" if args.configfile else ""
    folds = f", folds {args.folds} only" if args.folds else ""
    print(f"\nprotocol {args.protocol}{variant}{folds}, seeds {args.seeds}, corpus {args.corpus}, "
          f"wall time {wall / 60:.1f} min (all calls into these workdirs: {ledger / 60:.1f}), "
          f"device {metrics['device'].iloc[0]}")
    if args.select == "validation":
        print(selection_report(metrics, args.protocol))
    else:  # tabulate is pinned in requirements.lock
        print(comparison(metrics, args.protocol).to_markdown(index=False))
    if not (args.no_registry or args.folds or args.variants):  # full runs of every fold only
        write_registry(args, metrics, max(wall, ledger))


def write_registry(args: argparse.Namespace, metrics: pd.DataFrame, wall_s: float) -> None:
    """The run's rows into the results registry, with the command that reproduces them."""
    from ser.report.registry import add_rows, read_registry, rerun_check, rows_from_metrics

    configs = " + ".join(c.name for c in args.configfile) or "config.yaml"
    setup = args.setup or f"{configs}; weights: {args.pretrained}"
    chosen = dict(item.split("=", 1) for item in args.chosen_by)
    script = Path(sys.argv[0])
    # quoted as a shell needs it: a --chosen-by text has spaces
    command = "python " + shlex.join([str(script.relative_to(REPO) if script.is_absolute()
                                          else script), *sys.argv[1:]])
    rows = rows_from_metrics(metrics, setup=setup, command=command, wall_min=wall_s / 60,
                             chosen_by=chosen)
    if args.rerun_check:
        print(rerun_check(read_registry(args.registry), rows).to_markdown(index=False))
        return
    add_rows(args.registry, rows)
    print(f"{len(rows)} rows -> {args.registry}")


if __name__ == "__main__":
    main()
