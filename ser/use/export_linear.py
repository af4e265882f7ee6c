"""`ser export` of a linear model.npz (the classical family, the `_lr` heads on pretrained
encoders): one ONNX graph from its feature vector to class probabilities.

The graph is the model's own arithmetic, written directly (no converter): the standardisation
with the training split's mean and scale, the decision values `z @ coef.T + intercept` and the
softmax, in float64 as `ser.models.classical.decision` computes them, so onnxruntime gives
`ser predict`'s probabilities. The feature vector itself (openSMILE functionals, an encoder's
pooled layers) is made outside the graph, as preprocessing.json records.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ser import __version__
from ser.io import atomic_file
from ser.use.calibration import export_record
from ser.use.trained import LinearTrained

OPSET = 17


def linear_graph(trained: LinearTrained):
    """The ONNX model: input `features` (batch, F) float32 -> `probabilities` (batch, classes)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = trained.model
    consts = {"mean": m.mean, "scale": m.scale, "coef_t": np.ascontiguousarray(m.coef.T),
              "intercept": m.intercept}
    inits = [numpy_helper.from_array(np.asarray(v, np.float64), name) for name, v in
             consts.items()]
    nodes = [helper.make_node("Cast", ["features"], ["x"], to=TensorProto.DOUBLE),
             helper.make_node("Sub", ["x", "mean"], ["centred"]),
             helper.make_node("Div", ["centred", "scale"], ["z"]),
             helper.make_node("MatMul", ["z", "coef_t"], ["zw"]),
             helper.make_node("Add", ["zw", "intercept"], ["decision"]),
             helper.make_node("Softmax", ["decision"], ["p64"], axis=1),
             helper.make_node("Cast", ["p64"], ["probabilities"], to=TensorProto.FLOAT)]
    width, n_classes = m.coef.shape[1], m.coef.shape[0]
    graph = helper.make_graph(
        nodes, f"ser_{trained.info.get('arch', 'linear')}",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                       ["batch", n_classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="ser", producer_version=__version__)
    onnx.checker.check_model(model)
    return model


def export_linear(trained: LinearTrained, out_dir: Path) -> list[Path]:
    """model.onnx and preprocessing.json in `out_dir`."""
    import onnx

    model_path, meta = out_dir / "model.onnx", out_dir / "preprocessing.json"
    with atomic_file(model_path) as tmp:
        onnx.save(linear_graph(trained), str(tmp))
    record = {"model_file": model_path.name, "format": "onnx", "opset": OPSET,
              "ser_version": __version__, "arch": trained.info.get("arch"),
              "weights": trained.info.get("weights"), "classes": trained.classes,
              "output": "probabilities (batch, classes), softmax applied",
              "calibration": export_record(trained.temperature),
              "audio": {k: trained.preprocessing[k]
                        for k in ("sample_rate", "offset", "duration", "window_seconds")},
              "features": trained.preprocessing["features"],
              "input": {"name": "features", "shape": ["batch", int(trained.model.coef.shape[1])],
                        "made_by": f"{trained.kind} of the window without zero padding "
                                   "(ser.use.trained.window_features)"},
              "standardisation": {"applied": "inside the graph"}}
    with atomic_file(meta) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return [model_path, meta]
