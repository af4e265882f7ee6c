"""Accuracy on the real RAVDESS corpus, next to the published row for the same model.

Runs the pipeline (the same Snakefile a user runs) on the real corpus under a protocol preset and
prints mean ± std accuracy and macro F1 per model beside the published numbers of
ser/reference/published_results.csv. It trains the models that are practical on a 2-core CPU by
default, every one from scratch (`--pretrained none`, the default: no weights can be fetched
offline). On a GPU with the weights at hand pass --models with the rest and `--pretrained config`
to keep each model's ImageNet/AudioSet weights from config.yaml.

    python benchmarks/accuracy.py --protocol dchung_4fold
    python benchmarks/accuracy.py --protocol emobox_6fold --models cnnx cnn1d_lstm
    python benchmarks/accuracy.py --protocol emobox_6fold --models cnn14 resnet18 --pretrained config
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ser.report.inputs import published_results  # noqa: E402

# alexnet_attn rather than resnet18: one step takes 0.8 s on one core against 2.2 s
CPU_MODELS = ["kaggle_cnn1d", "cnnx", "cnn1d_lstm", "alexnet_attn"]
# Our model names against the `model` column of the published table (dchung1209/RAVDESS rows).
PUBLISHED_NAMES = {"cnnx": "CNN-X", "cnn1d_lstm": "1DCNNLSTM", "cnn14_attn": "CNN-14 + Attn",
                   "resnet18": "ResNet", "vgg19_bn_attn": "VGG19 + Attn",
                   "alexnet_attn": "AlexNet + Attn", "cnn14": "CNN-14"}
PRESET_FILES = {"emobox_6fold": "emobox_6fold.csv", "dchung_4fold": "dchung_4fold.csv"}


def run_pipeline(protocol: str, models: list[str], corpus: Path, workdir: Path, cores: int,
                 scratch: bool, extra: list[str]) -> float:
    """Run the workflow into `workdir`; the wall time in seconds."""
    override = {"ravdess": {"source": str(corpus)}, "run_models": models}
    if scratch:
        override["models"] = {m: {"pretrained": "none"} for m in models}
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "benchmark.yaml").write_text(yaml.safe_dump(override))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
           "--directory", str(workdir), "--cores", str(cores), "--resources", "gpu=1",
           "--configfile", str(REPO / "config.yaml"),
           str(REPO / "workflow" / "presets" / f"{protocol}.yaml"),
           str(workdir / "benchmark.yaml"), *extra]
    start = time.monotonic()
    subprocess.run(cmd, check=True)
    return time.monotonic() - start


def comparison(metrics: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """Mean ± std per model beside the published row of the same model and fold list."""
    published = published_results()
    same = published[published["protocol"].str.contains(PRESET_FILES[protocol], regex=False)]
    rows = []
    for model, group in metrics.groupby("model"):
        pretrained = group["pretrained"].iloc[0]
        # a published row counts only for the same weights: scratch AlexNet is not ImageNet's
        pub = same[(same["model"] == PUBLISHED_NAMES.get(model, ""))
                   & (same["weights"] == ("scratch" if pretrained == "none" else pretrained))]
        rows.append({
            "model": model, "family": group["family"].iloc[0], "weights": group["weights"].iloc[0],
            "folds": len(group), "epochs_run": round(group["epochs_run"].mean(), 1),
            "accuracy": f"{100 * group.accuracy.mean():.2f} ± {100 * group.accuracy.std():.2f}",
            "f1_macro": f"{100 * group.f1_macro.mean():.2f} ± {100 * group.f1_macro.std():.2f}",
            "published_accuracy": f"{100 * pub.accuracy.iloc[0]:.2f}" if len(pub) else "-",
            "published_f1": f"{100 * pub.f1_macro.iloc[0]:.2f}" if len(pub) else "-",
            "train_minutes": round(group["train_seconds"].sum() / 60, 1),
        })
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=sorted(PRESET_FILES), default="dchung_4fold")
    parser.add_argument("--models", nargs="+", default=CPU_MODELS)
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/ravdess-16k")
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks/out/accuracy")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--pretrained", choices=["none", "config"], default="none",
                        help="none: train every model from scratch; config: config.yaml's weights")
    parser.add_argument("snakemake_args", nargs="*", help="passed on to snakemake (after --)")
    args = parser.parse_args()
    workdir = args.workdir / args.protocol
    wall = run_pipeline(args.protocol, args.models, args.corpus, workdir, args.cores,
                        args.pretrained == "none", args.snakemake_args)
    metrics = pd.read_csv(workdir / "results" / "metrics.csv")
    table = comparison(metrics[metrics["model"].isin(args.models)], args.protocol)
    print(f"\nprotocol {args.protocol}, corpus {args.corpus}, wall time {wall / 60:.1f} min, "
          f"device {metrics['device'].iloc[0]}")
    print(table.to_markdown(index=False) if hasattr(table, "to_markdown") else table.to_string())


if __name__ == "__main__":
    main()
