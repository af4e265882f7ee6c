"""Issue 33: a fusion used outside the run (tests/configs/use.yaml: kaggle_cnn1d + egemaps_lr on
six real actors). `ser predict` on a fold's model.json gives that fold's predictions.csv, its
export agrees with `ser predict` under onnxruntime, `final` trains it with a card, the final model
of an empty `final.models` is the validation-best family representative, and a copy of the
release's 48 kHz stereo WAV files is scored as the 16 kHz FLAC copy is."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from conftest import REPO, run_snakemake

FUSION = "fusion"


def fold_dir(run: Path, model: str, fold: int = 1) -> Path:
    return run / "results" / "models" / model / f"fold_{fold}"


def test_ser_predict_gives_the_fold_fusions_predictions(use_run, ravdess16k, tmp_path):
    from ser.use.cli import main

    expected = pd.read_csv(fold_dir(use_run, FUSION) / "predictions.csv")
    files = [next(ravdess16k.glob(f"Actor_*/{f}.flac")) for f in expected["file"]]
    assert main(["predict", str(fold_dir(use_run, FUSION) / "model.json"), *map(str, files),
                 "--out", str(tmp_path / "p.csv")]) == 0
    ours = pd.read_csv(tmp_path / "p.csv")
    assert [Path(f).stem for f in ours["file"]] == expected["file"].tolist()
    cols = [c for c in expected.columns if c.startswith("p_")]
    np.testing.assert_allclose(ours[cols].to_numpy(), expected[cols].to_numpy(), atol=1e-5)
    weights = json.loads((fold_dir(use_run, FUSION) / "model.json").read_text())["weights"]
    assert 0 < min(weights)  # both members count, or this would test one model only


def member_probabilities_by_onnx(export: Path, trained, files: list[Path]) -> dict:
    """Each member's probabilities from its exported ONNX graph under onnxruntime, its input
    made as its preprocessing.json says (ser's own window and feature code)."""
    import onnxruntime as ort

    from ser.audio import load_audio
    from ser.use.export_torch import build_raw_input
    from ser.use.score import windows
    from ser.use.trained import LinearTrained

    probs = {}
    for name, _, member in trained.members:
        # one window per file (5.5 s covers these clips), cut as ser predict cuts it
        waves = [windows(load_audio(f, member.sample_rate), member)[0][1] for f in files]
        x = member.features(waves) if isinstance(member, LinearTrained) else \
            build_raw_input(member, waves).numpy()
        meta = json.loads((export / name / "preprocessing.json").read_text())
        session = ort.InferenceSession(str(export / name / meta["model_file"]),
                                       providers=["CPUExecutionProvider"])
        probs[name] = session.run(None, {meta["input"]["name"]: x.astype(np.float32)})[0]
    return probs


def test_the_fusion_export_agrees_with_ser_predict(use_run, ravdess16k, tmp_path):
    from ser.use.export import export_model
    from ser.use.export_fusion import fuse_exported
    from ser.use.predict import score_file
    from ser.use.load import load_trained

    model = fold_dir(use_run, FUSION) / "model.json"
    written = export_model(model, tmp_path / "exported")
    assert {p.relative_to(tmp_path / "exported").as_posix() for p in written} == {
        "kaggle_cnn1d/model.onnx", "kaggle_cnn1d/preprocessing.json",
        "egemaps_lr/model.onnx", "egemaps_lr/preprocessing.json", "fusion.json"}
    trained = load_trained(model, "cpu")
    files = sorted((ravdess16k / "Actor_01").glob("*.flac"))[:4]  # fold 1's test actor
    onnx = fuse_exported(tmp_path / "exported",
                         member_probabilities_by_onnx(tmp_path / "exported", trained, files))
    ours = np.stack([score_file(f, trained).probs for f in files])
    np.testing.assert_allclose(onnx, ours, atol=1e-4)


def test_the_final_fusion_its_members_and_its_card(use_run):
    final = use_run / "results/final"
    record = json.loads((final / FUSION / "model.json").read_text())
    assert record["member_models"] == {"kaggle_cnn1d": "../kaggle_cnn1d/model.pt",
                                       "egemaps_lr": "../egemaps_lr/model.npz"}
    split = pd.read_csv(final / "folds.csv")
    val_files = sorted(split.loc[split["split"] == "val", "file"])
    assert sorted(record["fitted_on_files"]) == val_files  # chosen on validation actors only
    history = pd.read_csv(final / FUSION / "history.csv")
    assert len(history) == 11 and history["val_ua"].max() == json.loads(
        (final / FUSION / "metrics.json").read_text())["in_sample_val_unweighted_accuracy"]
    card = (final / FUSION / "model_card.md").read_text()
    w = dict(zip(record["members"], record["weights"]))
    assert f"`kaggle_cnn1d` {w['kaggle_cnn1d']:g}, `egemaps_lr` {w['egemaps_lr']:g}" in card
    folds = [json.loads((fold_dir(use_run, FUSION, k) / "metrics.json").read_text())
             for k in (1, 2)]
    ua = [f["unweighted_accuracy"] for f in folds]
    assert f"UA {100 * np.mean(ua):.2f} ± {100 * np.std(ua, ddof=1):.2f} %" in card


def test_an_empty_final_models_trains_the_validation_best_representative(use_run, ravdess16k,
                                                                         tmp_path):
    """final.models empty (the demo's setting): the family representative of highest mean
    validation UA, computed here from the folds' metrics.json by hand."""
    import yaml

    run = tmp_path / "run"
    shutil.copytree(use_run, run, symlinks=True)
    rows = [json.loads(p.read_text()) for p in run.glob("results/models/*/fold_*/metrics.json")]
    val = pd.DataFrame(rows).groupby(["family", "model"])["val_unweighted_accuracy"].mean()
    best = val.index[int(np.argmax(val.to_numpy()))][1]  # the best model is its family's best
    (run / "results/final" / best / "model_card.md").unlink()
    cfg = yaml.safe_load((REPO / "tests/configs/use.yaml").read_text())
    cfg["ravdess"]["source"] = str(ravdess16k)  # as the use_run fixture made it
    cfg["final"] = {"models": []}
    (tmp_path / "use.yaml").write_text(yaml.safe_dump(cfg))
    done = run_snakemake(run, "--cores", "1", "final", "--resources", "gpu=1",
                         configfiles=(tmp_path / "use.yaml",))
    chosen = json.loads((run / "results/final/chosen.json").read_text())
    assert chosen["model"] == best and chosen["folder"] == f"results/final/{best}"
    assert chosen["val_unweighted_accuracy"] == max(val)
    assert (run / "results/final" / best / "model_card.md").exists()
    assert "localrule train" not in done.stderr and "rule train:" not in done.stderr


def test_a_copy_of_the_release_48k_stereo_wav_is_scored_as_the_16k_flac(use_run, ravdess16k,
                                                                       tmp_path):
    """The release's form (48 kHz, two channels, 16-bit WAV, Actor_XX folders): every file
    scored, within resampling noise of the 16 kHz copy, by a fusion of a CNN and a linear
    model."""
    import librosa

    from ser.use.cli import main

    flacs = sorted((ravdess16k / "Actor_01").glob("*.flac"))[:3]
    release = tmp_path / "Audio_Speech_Actors_01-24" / "Actor_01"
    release.mkdir(parents=True)
    for f in flacs:
        wave, _ = sf.read(f, dtype="float64")
        up = librosa.resample(wave, orig_sr=16000, target_sr=48000)
        sf.write(release / f"{f.stem}.wav", np.stack([up, up], 1), 48000, subtype="PCM_16")
    model = str(fold_dir(use_run, FUSION) / "model.json")
    assert main(["predict", model, str(release.parent), "--out", str(tmp_path / "wav.csv")]) == 0
    assert main(["predict", model, *map(str, flacs), "--out", str(tmp_path / "flac.csv")]) == 0
    wav, flac = (pd.read_csv(tmp_path / n) for n in ("wav.csv", "flac.csv"))
    assert [Path(f).stem for f in wav["file"]] == [f.stem for f in flacs]
    cols = [c for c in wav.columns if c.startswith("p_")]
    np.testing.assert_allclose(wav[cols].to_numpy(), flac[cols].to_numpy(), atol=0.05)
