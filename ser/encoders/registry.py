"""Every encoder by its feature kind: the specs that crepe, ge2e and hub describe, and the
questions the pipeline asks of a kind (is it an encoder, which params it takes, which hub files
it reads)."""
from __future__ import annotations

from ser.encoders import crepe, ge2e, hub
from ser.encoders.spec import EncoderSpec
from ser.weight_files import WeightFile

ENCODER_MODULES = tuple(m.__name__ for m in (crepe, ge2e, hub))


def _by_name(specs: list[EncoderSpec]) -> dict[str, EncoderSpec]:
    names = [s.name for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"encoders {twice} are described twice")
    return {s.name: s for s in specs}


ENCODERS: dict[str, EncoderSpec] = _by_name([*crepe.SPECS.values(), ge2e.SPEC, *hub.SPECS])


def is_encoder(kind: str) -> bool:
    return kind in ENCODERS


def runs_encoder(kind: str) -> bool:
    """A kind computed by a pretrained encoder: its pooled layers, or the frames of CREPE's
    frozen blocks that fine-tuning reads."""
    return is_encoder(kind) or kind in crepe.FRAME_KINDS


def get_encoder(kind: str) -> EncoderSpec:
    if kind not in ENCODERS:
        raise ValueError(f"unknown encoder {kind!r}; known: {sorted(ENCODERS)}")
    return ENCODERS[kind]


def encoder_params(kind: str) -> set[str]:
    return set(get_encoder(kind).params)


def check_encoder_params(kind: str, params: dict) -> None:
    unknown = sorted(set(params) - encoder_params(kind))
    if unknown:
        raise ValueError(f"encoder {kind!r} does not take {unknown}; "
                         f"it takes {sorted(encoder_params(kind))}")


def hub_weight_files(kind: str, params: dict | None = None) -> list[WeightFile]:
    """The hub files encoder `kind` reads at its configured revision; none for a packaged
    encoder."""
    spec = get_encoder(kind)
    if spec.hub is None:
        return []
    return spec.hub.weight_files((params or {}).get("revision"))
