"""`ser export`: a trained model of any family into a folder a runtime can use without ser.

Each family's export has the same shape, `export_<family>(trained, out_dir) -> paths written`:
a torch model.pt as ONNX or TorchScript (ser.use.export_torch), a linear model.npz as one ONNX
graph (ser.use.export_linear), a fusion as its members' exports and fusion.json
(ser.use.export_fusion), each beside a preprocessing.json of what its input must be.
"""
from __future__ import annotations

from pathlib import Path

from ser.use.export_fusion import export_fusion
from ser.use.export_linear import export_linear
from ser.use.export_torch import export_torch
from ser.use.load import load_trained
from ser.use.trained import FusionTrained, LinearTrained, TrainedModel


def export_model(model_pt: str | Path, out_dir: str | Path) -> list[Path]:
    """The export of a model file or folder in `out_dir`; returns the paths written."""
    return export_trained(load_trained(model_pt, "cpu"), Path(out_dir))


def export_trained(trained: TrainedModel | LinearTrained | FusionTrained, out_dir: Path
                   ) -> list[Path]:
    """The export of a loaded model in `out_dir`, by its family."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(trained, LinearTrained):
        return export_linear(trained, out_dir)
    if isinstance(trained, FusionTrained):
        return export_fusion(trained, out_dir, export_trained)
    return export_torch(trained, out_dir)
