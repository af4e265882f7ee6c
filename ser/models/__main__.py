"""`python -m ser.models`: the table of registered models (name, family, input, parameters)."""
from __future__ import annotations

from ser.features.functionals import N_FUNCTIONALS
from ser.models import build_model, get_spec, list_models


def model_table(n_classes: int = 8) -> list[tuple[str, str, str, int, int]]:
    """(name, family, input, trainable parameters, all parameters) of every model."""
    rows = []
    for name in list_models():
        spec = get_spec(name)
        size = "x".join(map(str, spec.input.size)) if spec.input.size else "as stored"
        if spec.family == "classical":  # coefficients and intercepts, once fitted
            n = (N_FUNCTIONALS[spec.input.features[0]] + 1) * n_classes
            rows.append((name, spec.family, f"{spec.input.features[0]} (functionals)", n, n))
            continue
        if spec.family == "fusion":  # one weight per member, which the config names
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
