"""`python -m ser.models`: the table of registered models (name, family, input, parameters)."""
from __future__ import annotations

from ser.features.functionals import N_FUNCTIONALS
from ser.models import build_model, get_spec, list_models


def input_width(spec) -> int:
    """The stored width of a linear model's one input: functionals, or one encoder layer (the
    widest, an upper bound: the layer is chosen when it is fitted)."""
    from ser.encoders import get_encoder, is_encoder

    kind = spec.input.features[0]
    if is_encoder(kind):
        return max(w for _, w in get_encoder(kind).layer_widths())
    return N_FUNCTIONALS[kind]


def model_table(n_classes: int = 8) -> list[tuple[str, str, str, int, int]]:
    """(name, family, input, trainable parameters, all parameters) of every model."""
    rows = []
    for name in list_models():
        spec = get_spec(name)
        size = "x".join(map(str, spec.input.size)) if spec.input.size else "as stored"
        if spec.trainer == "linear":  # coefficients and intercepts of one input, once fitted
            n = (input_width(spec) + 1) * n_classes
            rows.append((name, spec.family, f"{spec.input.features[0]} (one vector)", n, n))
            continue
        if spec.trainer == "fusion":  # one weight per member, which the config names
            rows.append((name, spec.family, "its members' class probabilities", 0, 0))
            continue
        model = build_model(name, n_classes)
        rows.append((name, spec.family, f"{'+'.join(spec.input.features)} ({size})",
                     sum(p.numel() for p in model.parameters() if p.requires_grad),
                     sum(p.numel() for p in model.parameters())))
    return rows


def main() -> None:
    print(f"{'name':<22}{'family':<10}{'input':<38}{'trainable':>13}{'params':>13}")
    for name, family, inp, trainable, total in model_table():
        print(f"{name:<22}{family:<10}{inp:<38}{trainable:>13,}{total:>13,}")


if __name__ == "__main__":
    main()
