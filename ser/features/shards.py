"""Per-actor HDF5 shards of extracted features.

Layout: dataset ``features`` (N, ...) float32, dataset ``files`` (N,) variable-length UTF-8 file
stems in the metadata's order, attributes ``kind``, ``params`` (JSON, sorted keys),
``extractor_version``, ``n_files`` and ``complete`` (set last, so a file without it was never
finished). A shard is written to ``<name>.h5.tmp`` beside its final name and renamed.

Storage measured with `benchmarks/features.py --storage` on the real actor 1 (60 files, 16 kHz,
4 s, config.yaml parameters; chunks of one item; read = one ``h5["features"][()]``, best of 3,
warm page cache; the shared 2-core machine was under load ~6, so read times are noisy to ~2x):

    kind       MB f32: none  lzf  gzip-1 | f16: none  lzf  gzip-1 | read ms f32: none  lzf gzip-1
    waveform           15.4   5.5   4.3  |       7.7   4.0   3.3  |              4.4  68.7  82.9
    logmel             12.3   9.7   8.4  |       6.2   4.9   3.9  |              2.8  34.1  82.3
    mfcc                2.4   1.8   1.7  |       1.2   0.9   0.9  |              0.9   7.8  13.2
    stft               30.9  15.8  13.7  |      15.5   8.0   6.5  |             18.1  87.5 162.5
    scalogram           7.6   7.6   7.1  |       3.8   3.2   2.8  |              2.3   2.5  61.8

Chosen: chunks of one item each, float32, no compression (`COMPRESSION`). Compression halves
the STFT (its dB floor at -80 repeats) and the waveform, but reads 5 to 20 times slower, and the
whole corpus of every kind is only 1.65 GB uncompressed (24 actors x 68.6 MB). float16 halves
every kind but rounds dB values by up to 0.03 dB (most of the 0.05 dB agreement with librosa
that tests/test_features.py holds) and scalogram values by up to 5e-4 relative (5 times the
1e-4 agreement with pywt).
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from ser.audio import AudioError, fix_length, load_audio
from ser.data.ravdess import read_metadata
from ser.io import rebuild_hint, short_error
from ser.features.extract import check_params, extract, extract_batches
from ser.encoders import (encoder_features, encoder_layers, get_encoder, identity, is_encoder,
                          runs_encoder)
from ser.encoders.crepe import FRAME_KINDS
from ser.features.functionals import functional_features, is_functional, opensmile_version
from ser.weight_files import resolve_cache_dir

EXTRACTOR_VERSION = "1"
COMPRESSION: str | None = None  # see the measurements above


class ShardError(ValueError):
    """A shard that cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        super().__init__(f"{path}: {reason}")


def params_json(params: dict) -> str:
    """The canonical text of a parameter set, so equal parameters compare equal as strings."""
    return json.dumps(params, sort_keys=True)


def write_shard(path: str | Path, features: np.ndarray, files: list[str], attrs: dict) -> None:
    """Write `features` (N, ...) and their `files` to `path` through a temporary file and rename."""
    path = Path(path)
    features = np.ascontiguousarray(features, dtype=np.float32)
    if len(files) != len(features):
        raise ValueError(f"{path}: {len(features)} feature rows but {len(files)} file names")
    for key in ("kind", "params"):
        if key not in attrs:
            raise ValueError(f"{path}: attrs must hold {key!r}")
    tmp = path.with_suffix(".h5.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with h5py.File(tmp, "w") as h5:
            chunks = (1, *features.shape[1:]) if len(features) else None
            h5.create_dataset("features", data=features, chunks=chunks, compression=COMPRESSION)
            h5.create_dataset("files", data=list(files), dtype=h5py.string_dtype("utf-8"))
            for key, value in attrs.items():
                h5.attrs[key] = params_json(value) if key == "params" else value
            h5.attrs.setdefault("extractor_version", EXTRACTOR_VERSION)
            h5.attrs["n_files"] = len(files)
            h5.attrs["complete"] = True
        _read_one(tmp, attrs["kind"], None)  # complete and readable before it counts as done
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_one(path: Path, expect_kind: str | None,
              expect_params: dict | None) -> tuple[np.ndarray, list[str]]:
    try:
        with h5py.File(path, "r") as h5:
            attrs = dict(h5.attrs)
            if not attrs.get("complete", False):
                raise ShardError(path, f"incomplete shard (no 'complete' mark); "
                                       f"{rebuild_hint(path)}")
            if expect_kind is not None and attrs.get("kind") != expect_kind:
                raise ShardError(path, f"holds {attrs.get('kind')!r} features, not {expect_kind!r}")
            if expect_params is not None and attrs.get("params") != params_json(expect_params):
                raise ShardError(path, f"stale shard: extracted with params {attrs.get('params')}, "
                                       f"the config asks for {params_json(expect_params)}")
            features = h5["features"][()]
            files = [f.decode() if isinstance(f, bytes) else f for f in h5["files"][()]]
    except ShardError:
        raise
    except (OSError, KeyError, ValueError) as err:
        raise ShardError(path, f"truncated or corrupt shard ({short_error(err)}); "
                               f"{rebuild_hint(path)}") from err
    if not (len(features) == len(files) == attrs.get("n_files")):
        raise ShardError(path, f"holds {len(features)} rows and {len(files)} names, "
                               f"expected {attrs.get('n_files')}; {rebuild_hint(path)}")
    return features, files


def read_shards(paths: list[str | Path], expect_kind: str | None = None,
                expect_params: dict | None = None) -> tuple[np.ndarray, list[str]]:
    """Concatenate shards (one read each) after checking they are complete and match the config."""
    if not paths:
        raise ValueError("no shards given")
    parts = [_read_one(Path(p), expect_kind, expect_params) for p in paths]
    shapes = {f.shape[1:] for f, _ in parts}
    if len(shapes) > 1:
        raise ShardError(paths[0], f"shards hold features of different shapes {sorted(shapes)}")
    return np.concatenate([f for f, _ in parts]), [n for _, names in parts for n in names]


def shard_preprocessing(paths: list[str | Path]) -> dict:
    """How the shards of one kind were made (sample rate, offset, duration, stretch, params),
    checked to agree across `paths`, so a trained model can be fed new audio the same way."""
    seen = {}
    for path in paths:
        try:
            with h5py.File(path, "r") as h5:
                attrs = dict(h5.attrs)
        except OSError as err:
            raise ShardError(path, f"cannot read its attributes ({err})") from err
        made = {"sample_rate": int(attrs["sample_rate"]), "offset": float(attrs["offset"]),
                "duration": float(attrs["duration"]),
                "stretch_frames": int(attrs.get("stretch_frames", 0)),
                "params": json.loads(attrs["params"])}
        if "weights_dir" in attrs:  # a hub encoder's snapshot folder (encoder_attrs)
            made["weights_dir"] = str(attrs["weights_dir"])
        if seen and made != seen:
            raise ShardError(path, f"made with {made}, unlike {paths[0]} ({seen})")
        seen = made
    return seen


def encoder_attrs(kind: str, params: dict | None = None,
                  weights_dir: str | Path | None = None) -> dict:
    """The encoder's identity and, for its pooled layers, their names and widths (JSON), for a
    shard's attrs."""
    if kind in FRAME_KINDS:  # the frozen blocks of CREPE that fine-tuning reads
        return identity(get_encoder(f"crepe_{FRAME_KINDS[kind]}"))
    spec = get_encoder(kind)
    # a hub snapshot's absolute folder, so that the trained model finds it from any directory
    where = {} if spec.hub is None else \
        {"weights_dir": str(resolve_cache_dir(weights_dir).resolve())}
    return {**identity(spec, params, weights_dir), **where,
            "layers": json.dumps(encoder_layers(spec, params, weights_dir))}


def shard_layers(paths: Sequence[str | Path]) -> list[tuple[str, int]]:
    """(name, width) of each encoder layer stored side by side in the shards, checked to agree."""
    seen = None
    for path in paths:
        try:
            with h5py.File(path, "r") as h5:
                raw = h5.attrs.get("layers")
        except OSError as err:
            raise ShardError(path, f"cannot read its attributes ({err})") from err
        if raw is None:
            raise ShardError(path, "holds no encoder layers (not a shard of a pretrained encoder)")
        layers = [(str(n), int(w)) for n, w in json.loads(raw)]
        if seen is not None and layers != seen:
            raise ShardError(path, f"layers {layers} differ from {paths[0]}'s {seen}")
        seen = layers
    return seen


def load_waves(paths: list[str], audio_params: dict) -> torch.Tensor:
    """Decode and crop/pad a list of files to one (B, S) float32 batch."""
    sr = int(audio_params["sample_rate"])
    waves = [fix_length(load_audio(p, sr), sr, float(audio_params.get("offset", 0.0)),
                        float(audio_params["duration"])) for p in paths]
    return torch.from_numpy(np.stack(waves))


def stretch_time(features: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Resize the time axis of (B, F, T) features to `n_frames`, smoothing before it shrinks
    them as PIL's image resize (dchung1209's) does."""
    return F.interpolate(features[:, None], size=(features.shape[1], n_frames), mode="bilinear",
                         antialias=True, align_corners=False)[:, 0]


def stretched_features(paths: list[str], kind: str, params: dict, audio_params: dict,
                       n_frames: int, device: str = "cpu") -> torch.Tensor:
    """Each whole clip from `offset` on, its features' time axis resized to `n_frames`:
    (N, F, n_frames).

    Each clip then fills the image whatever its length, as in dchung1209's 128 x 256 images,
    instead of a fixed window that cuts long clips and pads short ones with silence.
    """
    sr = int(audio_params["sample_rate"])
    start = int(round(float(audio_params.get("offset", 0.0)) * sr))
    out = []
    for path in paths:
        wave = load_audio(path, sr)
        if len(wave) <= start:
            raise AudioError(path, f"nothing left to stretch after the offset of "
                                   f"{start / sr:g} s (the clip lasts {len(wave) / sr:g} s)")
        out.append(stretched_clip(wave[start:], kind, params, sr, n_frames, device))
    return torch.cat(out)


def stretched_clip(wave: np.ndarray, kind: str, params: dict, sample_rate: int, n_frames: int,
                   device: str | torch.device = "cpu") -> torch.Tensor:
    """One clip's features, time axis resized to `n_frames`: (1, F, n_frames)."""
    feats = extract(kind, torch.from_numpy(np.ascontiguousarray(wave))[None].to(device),
                    sample_rate, params)
    return stretch_time(feats, n_frames)


def build_actor_shard(metadata_csv: str | Path, actor: int, kind: str, params: dict,
                      audio_params: dict, out_path: str | Path, device: str = "cpu",
                      weights_dir: str | Path | None = None, batch_size: int = 8,
                      log: logging.Logger | None = None) -> int:
    """Extract `kind` for every file of `actor` in the metadata and write one shard; returns N.

    Every clip is cut or zero-padded to `duration` seconds, unless `audio_params` sets
    `stretch_frames`: then spectral kinds see each whole clip (`stretched_features`); the
    waveform kind has no frames to stretch and is still cut or padded. The openSMILE functional
    kinds see the same window unpadded (ser.features.functionals): one vector (F,) per file.
    """
    check_params(kind, params)
    stretch = audio_params.get("stretch_frames")
    unpadded = is_functional(kind) or is_encoder(kind)  # one vector per file, of the window
    stretch = None if stretch is None or kind == "waveform" or unpadded else int(stretch)
    if stretch is not None and stretch < 1:
        raise ValueError(f"audio.stretch_frames must be at least 1, got {stretch}")
    meta = read_metadata(metadata_csv, columns=("path", "file", "actor"))
    rows = meta[meta["actor"] == int(actor)]
    if rows.empty:
        raise ValueError(f"{metadata_csv}: no files of actor {actor}")
    paths, files = rows["path"].astype(str).tolist(), rows["file"].astype(str).tolist()
    sr = int(audio_params["sample_rate"])
    attrs = {"kind": kind, "params": params, "extractor_version": EXTRACTOR_VERSION,
             "sample_rate": sr, "offset": float(audio_params.get("offset", 0.0)),
             "duration": float(audio_params["duration"]), "stretch_frames": stretch or 0}
    if is_functional(kind):
        feats = functional_features(paths, kind, audio_params)
        attrs["opensmile_version"] = opensmile_version()
    elif is_encoder(kind):
        feats = encoder_features(paths, kind, params, audio_params, device, weights_dir)
        attrs.update(encoder_attrs(kind, params, weights_dir))
    elif stretch is not None:
        feats = stretched_features(paths, kind, params, audio_params, stretch, device).cpu().numpy()
    else:
        waves = load_waves(paths, audio_params).to(device)  # one actor: ~60 files, 15 MB
        feats = extract_batches(waves, sr, {kind: params}, batch_size=batch_size)[kind]
        feats = feats.cpu().numpy()
        if runs_encoder(kind):
            attrs.update(encoder_attrs(kind))
    write_shard(out_path, feats, files, attrs)
    if log is not None:
        how = (f"whole clips stretched to {stretch} frames" if stretch else
               f"cut to {float(audio_params['duration']):.2f} s, unpadded" if unpadded
               else f"cut or padded to {float(audio_params['duration']):.2f} s")
        log.info("actor %02d %s: %d files (%s) -> %s", actor, kind, len(files), how, out_path)
    return len(files)


def extraction_plan(kind: str, threads: int) -> tuple[str, int]:
    """(device, worker processes) for one kind's job of `threads` threads.

    openSMILE runs on one core and so does a pretrained encoder on 2 shared cores (one file at a
    time, small batches): the job's threads extract that many actors at once, each in a forked
    process of one thread. An encoder runs on the GPU when the job has one, in one process.
    """
    if runs_encoder(kind) and torch.cuda.is_available():
        return "cuda", 1
    return "cpu", max(1, int(threads)) if (is_functional(kind) or is_encoder(kind)) else 1


def build_kind_shards(metadata_csv: str | Path, actors: Sequence[int], kind: str, params: dict,
                      audio_params: dict, out_paths: Sequence[str | Path],
                      log: logging.Logger | None = None, workers: int = 1,
                      device: str = "cpu", weights_dir: str | Path | None = None) -> int:
    """`build_actor_shard` of each actor, into `out_paths` (one per actor, same order).

    One process per kind rather than per actor and kind: the start-up of a Python with torch
    costs more than most kinds' extraction for one actor (benchmarks/startup.py). Each shard is
    still written on its own, atomically, with memory bounded by one actor. With `workers` > 1
    the actors are extracted in that many forked processes (for openSMILE's functionals, which
    run on one core; torch kinds use the job's threads instead). Returns all files.
    """
    if len(actors) != len(out_paths):
        raise ValueError(f"{kind}: {len(actors)} actors for {len(out_paths)} shard paths")
    jobs = [(metadata_csv, actor, kind, params, audio_params, path, device, weights_dir)
            for actor, path in zip(actors, out_paths)]
    if workers <= 1 or len(jobs) <= 1:
        return sum(build_actor_shard(*job, log=log) for job in jobs)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the children need no second import of torch, and no __main__ (a Snakemake script)
    start, counts = time.monotonic(), []
    with ProcessPoolExecutor(min(workers, len(jobs)),
                             mp_context=multiprocessing.get_context("fork")) as pool:
        # in order, each as soon as it is done: a job of hours (CREPE full on a CPU) shows progress
        for job, n in zip(jobs, pool.map(_build_actor_shard_job, jobs)):
            counts.append(n)
            if log:
                log.info("actor %02d %s: %d files -> %s (%d of %d actors, %.0f s)", job[1], kind,
                         n, job[5], len(counts), len(jobs), time.monotonic() - start)
    return sum(counts)


def _build_actor_shard_job(job: tuple) -> int:
    torch.set_num_threads(1)  # one worker process per core
    return build_actor_shard(*job)
