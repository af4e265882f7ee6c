"""The `ser` command (also `python -m ser`): use a trained model on new recordings, or export it.

    ser predict MODEL AUDIO... [--out scores.csv|scores.json] [--windows] [--timeline]
    ser export MODEL OUT_DIR

MODEL: a torch model.pt, a linear model.npz, a fusion's model.json, or the folder holding one
(results/final/<model>).

Exit status: 0 when every input was scored (or exported), 1 when some were not (each named with
the reason on stderr), 2 for a bad command line or a model that cannot be loaded.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ser", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pred = sub.add_parser("predict", help="class probabilities of audio files")
    pred.add_argument("model", help="a fold's or a final model's model file or folder")
    pred.add_argument("audio", nargs="+", help="audio files, folders (searched recursively) or "
                                               "globs (quote them)")
    pred.add_argument("--out", help="write the table to this .csv or .json file (the console "
                                    "then gets a short summary)")
    pred.add_argument("--windows", action="store_true",
                      help="also report each window of recordings longer than the model's window")
    pred.add_argument("--timeline", action="store_true",
                      help="score every recording stretch by stretch of speech (recordings over "
                           "2 minutes always are)")
    pred.add_argument("--log", help="file for the details and dependency warnings (default: "
                                    "beside --out, as .log)")
    pred.add_argument("--hop", type=float, default=0.5,
                      help="step between windows, as a fraction of the window (default 0.5)")
    pred.add_argument("--min-seconds", type=float, default=None,
                      help="shortest recording scored (default 0.5)")
    pred.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the GPU when there is one)")
    exp = sub.add_parser("export", help="ONNX (or TorchScript) model with its preprocessing JSON")
    exp.add_argument("model", help="a fold's or a final model's model file or folder")
    exp.add_argument("out_dir", help="folder for model.onnx or model.ts.pt and preprocessing.json")
    return parser


def _fail(lines: list[tuple[str, str]], limit: int = 20) -> None:
    for name, reason in lines[:limit]:
        print(f"error: {name}: {reason}", file=sys.stderr)
    if len(lines) > limit:
        print(f"error: ... and {len(lines) - limit} more", file=sys.stderr)


def predict(args: argparse.Namespace) -> int:
    from ser.use.load import load_trained
    from ser.use.predict import (audio_files, predict_files, score_table, summary,
                                 validation_note, write_table)
    from ser.use.score import MIN_SECONDS

    if not 0 < args.hop <= 1:
        raise ValueError(f"--hop must be in (0, 1], got {args.hop}")
    trained = load_trained(args.model, args.device)
    paths, missing = audio_files(args.audio)
    min_seconds = MIN_SECONDS if args.min_seconds is None else args.min_seconds
    scores, failed = predict_files(paths, trained, args.hop, min_seconds,
                                   progress=sys.stderr.isatty(), timeline=args.timeline)
    table = score_table(scores, trained.classes, args.windows)
    if args.out:
        write_table(table, args.out)
        print(summary(table, len(paths)))
        print(f"wrote {len(table)} rows ({len(scores)} files) to {args.out}")
    elif not table.empty:
        with pd.option_context("display.width", 200, "display.max_columns", None,
                               "display.float_format", "{:.3f}".format):
            print(table.to_string(index=False))
    note = validation_note(args.model)
    if note and not table.empty:
        print(note)
    _fail(missing + failed)
    return 1 if missing or failed else 0


def _keep_warnings(log: str | None) -> None:
    """Dependency warnings go to the log file (or nowhere), never to the console."""
    import logging

    logging.captureWarnings(True)
    target = logging.getLogger("py.warnings")
    target.propagate = False
    target.addHandler(logging.FileHandler(log) if log else logging.NullHandler())


def export(args: argparse.Namespace) -> int:
    from ser.use.export import export_model

    written = export_model(args.model, args.out_dir)
    for path in written:
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    from ser.train.outputs import CheckpointError

    args = _parser().parse_args(argv)
    # torch's note on padding='same' (the Kaggle 1-D CNN) says nothing the user can act on
    warnings.filterwarnings("ignore", message="Using padding='same'")
    if args.command == "predict":
        _keep_warnings(args.log or (str(Path(args.out).with_suffix(".log")) if args.out
                                    else None))
    try:
        return predict(args) if args.command == "predict" else export(args)
    except (CheckpointError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
