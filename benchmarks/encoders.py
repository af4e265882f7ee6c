"""Extraction cost of each pretrained encoder (ser.encoders): seconds per file, on this machine.

    .venv/bin/python benchmarks/encoders.py [--files 4] [--threads 1] [--device cpu]
    .venv/bin/python benchmarks/encoders.py --run benchmarks/out/encoders/emobox_6fold
    .venv/bin/python benchmarks/encoders.py --hub [--weights-dir resources/weights]
    .venv/bin/python benchmarks/encoders.py --quick   # ge2e and CREPE tiny on one file (a test)

Times the encoders as the features rule runs them (`encoder_features` on each file's window,
after one warm-up file that loads the weights), on `--files` real RAVDESS files, and projects the
whole corpus (1,440 files) on one worker and on `--workers` processes. `--run` reads instead what
a finished pipeline run measured: each encoder's feature job (logs/benchmarks/features/<kind>.tsv,
Snakemake's own `benchmark:` record: wall and CPU seconds) over the files it extracted.

A packaged encoder whose weight file is not at hand (the GPU machine: CREPE full's 89 MB and
GE2E's 17 MB do not travel) is timed as its architecture with random weights, run by its own
loader; the row says so.

`--hub` times the model hub's encoders (ser.encoders.hub) too: from their fetched snapshots when
`--weights-dir` holds them, else as their architectures at full size with random weights (the
cost of a forward pass does not depend on the weights' values; the row says which).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# what the pipeline extracts: config.yaml's settings, and CREPE full's CPU preset (crepe_cpu.yaml)
CASES = [("ge2e", {}), ("crepe_tiny", {"hop_length": 160}), ("crepe_full", {"hop_length": 1600}),
         ("crepe_full", {"hop_length": 160}), ("crepe_tiny_frames", {"hop_length": 1280})]
CORPUS_FILES = 1440
AUDIO = {"sample_rate": 16000, "offset": 0.0, "duration": 4.0}


def time_case(kind: str, params: dict, files: list[Path], device: str) -> float:
    """Seconds per file after a warm-up file."""
    from ser.encoders import encoder_features, is_encoder
    from ser.features.extract import extract
    from ser.features.shards import load_waves

    def run(paths: list[Path]) -> None:
        if is_encoder(kind):
            encoder_features([str(p) for p in paths], kind, params, AUDIO, device)
        else:  # the frames of CREPE's frozen blocks: a batch kind of the padded window
            extract(kind, load_waves([str(p) for p in paths], AUDIO).to(device), 16000, params)

    return time_runner(run, files, device)


def random_weights(kind: str, folder: Path) -> Path:
    """A weight file of packaged encoder `kind`'s architecture with random values, in the layout
    its loader reads (CREPE: torchcrepe's state dict; GE2E: resemblyzer's checkpoint)."""
    import torch

    path = folder / f"{kind}-random.pt"
    if kind == "ge2e":  # VoiceEncoder's layers, sized by resemblyzer's own hparams
        from resemblyzer import hparams as hp

        lstm = torch.nn.LSTM(hp.mel_n_channels, hp.model_hidden_size, hp.model_num_layers,
                             batch_first=True)
        linear = torch.nn.Linear(hp.model_hidden_size, hp.model_embedding_size)
        state = {**{f"lstm.{k}": v for k, v in lstm.state_dict().items()},
                 **{f"linear.{k}": v for k, v in linear.state_dict().items()}}
        torch.save({"model_state": state}, path)
    else:
        import torchcrepe

        torch.save(torchcrepe.Crepe(kind.removeprefix("crepe_")).state_dict(), path)
    return path


def packaged_case(kind: str, params: dict, files: list[Path], device: str) -> tuple[str, float]:
    """(how, seconds per file) of a packaged encoder: with its weight file, else (not at hand)
    as its architecture with random weights, run by its own loader."""
    import tempfile

    import torch

    from ser.encoders import EncoderWeightsError, get_encoder

    try:
        return str(params), time_case(kind, params, files, device)
    except EncoderWeightsError:
        if kind.endswith("_frames"):  # the frames kind: its encoder's row times it
            raise
    weights = random_weights(kind, Path(tempfile.mkdtemp(prefix=f"{kind}-")))
    encoder = get_encoder(kind).load(weights, torch.device(device), **params)
    return f"{params}, random weights", time_runner(_timed_runner(encoder), files, device)


def hub_case(kind: str, weights_dir: Path, device: str):
    """(how, a runner of `kind` over paths): the fetched snapshot when the cache holds it, else
    the architecture at full size with random weights, run as ser.encoders.hub runs it."""
    import transformers as tf

    from ser.encoders import EncoderWeightsError, encoder_features, get_encoder
    from ser.encoders.hub import hub_layers, load

    try:
        encoder_features([], kind, {}, AUDIO, device, weights_dir)  # verifies the snapshot
        return "fetched snapshot", lambda paths: encoder_features(
            [str(p) for p in paths], kind, {}, AUDIO, device, weights_dir)
    except EncoderWeightsError:
        pass
    import tempfile

    config = {"wav2vec2_base": tf.Wav2Vec2Config(), "hubert_base": tf.HubertConfig(),
              "wavlm_base_plus": tf.WavLMConfig(),
              "whisper_base": tf.WhisperConfig(d_model=512, encoder_layers=6, decoder_layers=6,
                                               encoder_attention_heads=8,
                                               decoder_attention_heads=8, encoder_ffn_dim=2048,
                                               decoder_ffn_dim=2048)}[kind]
    folder = Path(tempfile.mkdtemp(prefix=f"{kind}-"))
    tf.AutoModel.from_config(config).save_pretrained(folder)
    extractor = (tf.WhisperFeatureExtractor() if kind == "whisper_base"
                 else tf.Wav2Vec2FeatureExtractor())
    extractor.save_pretrained(folder)
    assert [w for _, w in hub_layers(folder)] == [w for _, w in get_encoder(kind).layers]
    return "architecture, random weights", _timed_runner(load(folder, device))


def _timed_runner(encoder):
    import torch

    from ser.audio import clip_window, load_audio
    from ser.encoders import pool

    def run(paths):
        with torch.inference_mode():
            for path in paths:
                pool(encoder(clip_window(load_audio(str(path), 16000), 16000, 0.0, 4.0)))
    return run


def time_runner(run, files: list[Path], device: str) -> float:
    import torch

    run(files[:1])
    start = time.perf_counter()
    run(files)
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / len(files)


def from_run(workdir: Path) -> pd.DataFrame:
    """Seconds per file of each encoder's feature job of a finished run."""
    import h5py

    from ser.encoders import runs_encoder

    rows = []
    for tsv in sorted((workdir / "logs" / "benchmarks" / "features").glob("*.tsv")):
        kind = tsv.stem
        if not runs_encoder(kind):
            continue
        bench = pd.read_csv(tsv, sep="\t").iloc[-1]
        shards = sorted((workdir / "results" / "features" / kind).glob("actor_*.h5"))
        n = 0
        for shard in shards:
            with h5py.File(shard) as h5:
                n += int(h5.attrs["n_files"])
                params = h5.attrs["params"]
        rows.append({"kind": kind, "params": params, "files": n, "wall_min": bench["s"] / 60,
                     "wall_s_per_file": bench["s"] / n, "cpu_s_per_file": bench["cpu_time"] / n})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/ravdess-16k")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="processes, for the projection")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--run", type=Path, help="read a finished run's feature jobs instead")
    parser.add_argument("--hub", action="store_true",
                        help="time the model hub's encoders instead of the packaged ones")
    parser.add_argument("--weights-dir", type=Path, default=Path("resources/weights"))
    parser.add_argument("--out", type=Path, help="also write the table as CSV")
    parser.add_argument("--quick", action="store_true",
                        help="the two cheapest encoders on one file: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.files = 1
    if args.run:
        print(from_run(args.run).to_markdown(index=False, floatfmt=".3f"))
        return
    import torch

    torch.set_num_threads(args.threads)
    files = sorted(args.corpus.glob("Actor_*/*.*"))[::97][:args.files]
    print(f"{len(files)} files, {args.threads} thread(s), device {args.device}, "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = []
    for kind, params in [] if args.hub else CASES[:2] if args.quick else CASES:
        try:
            how, per_file = packaged_case(kind, params, files, args.device)
        except Exception as err:  # noqa: BLE001 - e.g. a package that did not travel: go on
            rows.append({"kind": kind, "params": f"failed: {type(err).__name__}: {err}"[:150]})
            continue
        rows.append({"kind": kind, "params": how, "s_per_file": per_file,
                     "corpus_min_1_worker": per_file * CORPUS_FILES / 60,
                     f"corpus_min_{args.workers}_workers":
                         per_file * CORPUS_FILES / 60 / args.workers})
    for kind in ("wav2vec2_base", "hubert_base", "wavlm_base_plus", "whisper_base") * args.hub:
        how, run = hub_case(kind, args.weights_dir, args.device)
        per_file = time_runner(run, files, args.device)
        rows.append({"kind": kind, "params": how, "s_per_file": per_file,
                     "corpus_min_1_worker": per_file * CORPUS_FILES / 60,
                     f"corpus_min_{args.workers}_workers":
                         per_file * CORPUS_FILES / 60 / args.workers})
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f"))
    if args.out:
        pd.DataFrame(rows).assign(device=args.device, files=len(files)).to_csv(
            args.out, index=False)
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
