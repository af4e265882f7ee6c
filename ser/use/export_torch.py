"""`ser export` of a torch model.pt: ONNX (TorchScript when ONNX cannot hold it) beside a JSON of
the preprocessing it expects.

The exported graph takes the model input before normalisation (the stored features, resized and
composed as the trainer does) and returns class probabilities: the training split's normaliser
and the softmax are inside it. Feature extraction stays outside, stated in `preprocessing.json`
(sample rate, window, feature parameters), because it is what users replace with their own
front-end most often. The batch axis is always dynamic; the time axis too when the model reads the
stored layout without resizing (a fixed-size model has a fixed time axis by construction) and its
graph accepts another length. A model counts as exported to ONNX only when onnxruntime's
probabilities agree with torch's within `TOLERANCE` on a check input.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ser import __version__
from ser.io import atomic_file
from ser.models import build_model, get_spec
from ser.models.registry import InputSpec
from ser.train.data import build_input
from ser.train.normalise import Normaliser
from ser.train.recipe import crop_mean
from ser.use.calibration import export_record
from ser.use.trained import TrainedModel

TOLERANCE = 1e-4
OPSET = 18
log = logging.getLogger(__name__)


class Scorer(nn.Module):
    """Normaliser, model and softmax (averaged over the test crops of a crop-trained model):
    un-normalised model input in, probabilities out."""

    def __init__(self, trained: TrainedModel) -> None:
        super().__init__()
        self.model, self.normaliser = trained.model, trained.normaliser
        self.crops = trained.crops

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return crop_mean(self.model, self.normaliser(x), *self.crops)     # (B, classes)


def example_input(trained: TrainedModel, n: int = 2, seconds: float | None = None,
                  seed: int = 0) -> torch.Tensor:
    """Un-normalised model input of `n` windows of noise (of `seconds` when given)."""
    rng = np.random.default_rng(seed)
    samples = int(round((seconds or trained.preprocessing["window_seconds"]) * trained.sample_rate))
    waves = [(0.1 * rng.standard_normal(samples)).astype(np.float32) for _ in range(n)]
    return build_raw_input(trained, waves)


def build_raw_input(trained: TrainedModel, waves: list[np.ndarray]) -> torch.Tensor:
    raw = trained.features(waves)
    return build_input({k: v.float() for k, v in raw.items()}, trained.spec).cpu()


def _dynamic_axes(trained: TrainedModel, x: torch.Tensor) -> dict[int, str]:
    axes = {0: "batch"}
    if trained.spec.size is None and x.ndim >= 2:
        axes[x.ndim - 1] = "time"
    return axes


def _run_onnx(path: Path, x: torch.Tensor) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x.numpy()})[0]


def _onnx_agrees(path: Path, scorer: Scorer, inputs: list[torch.Tensor]) -> float:
    """The largest |onnxruntime - torch| probability difference over `inputs`."""
    worst = 0.0
    with torch.no_grad():
        for x in inputs:
            worst = max(worst, float(np.abs(_run_onnx(path, x) - scorer(x).numpy()).max()))
    return worst


def try_onnx(trained: TrainedModel, path: Path) -> dict | None:
    """Export to `path` with the most dynamic axes that still agree; None when none does."""
    scorer = Scorer(trained)
    scorer.eval()
    x = example_input(trained)
    axes = _dynamic_axes(trained, x)
    longer = example_input(trained, 3, trained.preprocessing["window_seconds"] * 1.5, seed=1)
    for dynamic in ([axes, {0: "batch"}] if len(axes) > 1 else [axes]):
        checks = [x, longer] if len(dynamic) > 1 else [x, example_input(trained, 3, seed=1)]
        try:
            with torch.no_grad():
                torch.onnx.export(scorer, (x,), str(path), input_names=["input"],
                                  output_names=["probabilities"], opset_version=OPSET,
                                  dynamic_axes={"input": dynamic, "probabilities": {0: "batch"}},
                                  dynamo=False)
            worst = _onnx_agrees(path, scorer, checks)
        except Exception as err:  # noqa: BLE001 - any exporter or runtime failure means "no"
            log.info("ONNX export with dynamic axes %s failed: %s", dynamic, err)
            continue
        if worst <= TOLERANCE:
            return {"format": "onnx", "opset": OPSET, "dynamic_axes": dynamic,
                    "check_max_abs_diff": worst}
        log.info("ONNX with dynamic axes %s differs from torch by %.2e", dynamic, worst)
    path.unlink(missing_ok=True)
    return None


def torchscript(trained: TrainedModel, path: Path) -> dict:
    scorer = Scorer(trained)
    scorer.eval()
    with torch.no_grad():
        traced = torch.jit.trace(scorer, example_input(trained))
    with atomic_file(path) as tmp:
        traced.save(str(tmp))
    return {"format": "torchscript", "dynamic_axes": {0: "batch"}}


def preprocessing_json(trained: TrainedModel, exported: dict, model_file: str) -> dict:
    norm = trained.normaliser
    x = example_input(trained, 1)
    return {
        "model_file": model_file, **exported, "ser_version": __version__,
        "arch": trained.info["arch"], "weights": trained.info.get("weights"),
        "classes": trained.classes, "output": "probabilities (batch, classes), softmax applied",
        "calibration": export_record(trained.temperature),
        "audio": {k: trained.preprocessing[k]
                  for k in ("sample_rate", "offset", "duration", "window_seconds")},
        "features": trained.preprocessing["features"],
        "input": {"name": "input", "shape": list(x.shape), "features": list(trained.spec.features),
                  "resize_to": None if trained.spec.size is None else list(trained.spec.size),
                  "built_by": "ser.train.data.build_input (bilinear resize, align_corners=False)",
                  "test_crops": trained.info.get("test_crops"),
                  "test_crops_applied": "inside the graph: the mean of the crops' probabilities"},
        "normaliser": {"applied": "inside the graph, before the model",
                       "axis": norm.axis,
                       "mean": None if norm.mean is None else norm.mean.tolist(),
                       "std": None if norm.std is None else norm.std.tolist()},
    }


def export_torch(trained: TrainedModel, out_dir: Path) -> list[Path]:
    """model.onnx (or model.ts.pt) and preprocessing.json in `out_dir`."""
    staged = out_dir / ".model.onnx.tmp"  # renamed into place only once onnxruntime agrees
    exported = try_onnx(trained, staged)
    if exported is not None:
        model_path = out_dir / "model.onnx"
        os.replace(staged, model_path)
    else:
        model_path = out_dir / "model.ts.pt"
        exported = torchscript(trained, model_path)
    meta = out_dir / "preprocessing.json"
    with atomic_file(meta) as tmp:
        tmp.write_text(json.dumps(preprocessing_json(trained, exported, model_path.name),
                                  indent=2) + "\n")
    return [model_path, meta]


def fresh_model(arch: str, features: dict, audio: dict, n_classes: int = 8) -> TrainedModel:
    """A randomly initialised registry model with the given feature and audio settings (as
    config.yaml's `features` and `audio`), to check what exports without training anything."""
    spec = get_spec(arch)
    hparams = {}
    if "n_frames" in spec.defaults and spec.input.size is None:  # as run.with_data_shape does
        kind = spec.input.features[0]
        hop = features[kind].get("hop_length", 1)
        hparams["n_frames"] = int(audio["duration"] * audio["sample_rate"]) // hop + 1
    model = build_model(arch, n_classes, "none", **hparams)
    model.eval()
    made = {k: {"params": features[k], "stretch_frames": 0} for k in spec.input.features}
    pre = {**{k: audio[k] for k in ("sample_rate", "offset", "duration")},
           "window_seconds": audio["duration"], "features": made}
    return TrainedModel(model, [f"class{i}" for i in range(n_classes)],
                        InputSpec(spec.input.features, spec.input.size), Normaliser(), pre,
                        {"arch": arch, "weights": "random init"}, torch.device("cpu"))


def main() -> None:
    """`python -m ser.use.export_torch [MODELS...]`: the format each registry model exports to (random
    init with seed 0, config.yaml's features, an export per model in a temporary folder)."""
    import sys
    import tempfile

    import yaml

    from ser.models import list_models

    config = yaml.safe_load(Path("config.yaml").read_text())
    print(f"{'model':<22}{'format':<13}{'dynamic axes':<28}max |onnxruntime - torch|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in sys.argv[1:] or list_models():
            torch.manual_seed(0)
            trained = fresh_model(name, config["features"], config["audio"])
            done = try_onnx(trained, Path(tmp) / f"{name}.onnx") or \
                torchscript(trained, Path(tmp) / f"{name}.ts.pt")
            axes = ", ".join(done["dynamic_axes"].values())
            print(f"{name:<22}{done['format']:<13}{axes:<28}{done.get('check_max_abs_diff', '')}")


if __name__ == "__main__":
    main()
