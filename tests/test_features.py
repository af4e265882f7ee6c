"""Our batched torch features against the per-file librosa / pywt calls, on real RAVDESS files."""
from __future__ import annotations

import librosa
import numpy as np
import pytest
import pywt
import torch
import yaml

from ser.audio import fix_length, load_audio
from ser.features import compose_image, extract, extract_batches
from ser.features.extract import FEATURES
from ser.features.wavelet import cwt_morlet

SR = 16000


@pytest.fixture(scope="module")
def config(repo_root) -> dict:
    return yaml.safe_load((repo_root / "config.yaml").read_text())


@pytest.fixture(scope="module")
def waves(ravdess16k) -> np.ndarray:
    """Two real files (one stereo-free speaker of each gender), 4 s as the pipeline uses them."""
    paths = [ravdess16k / "Actor_01" / "03-01-05-02-01-01-01.flac",
             ravdess16k / "Actor_12" / "03-01-03-01-02-02-12.flac"]
    return np.stack([fix_length(load_audio(p, SR), SR, 0.0, 4.0) for p in paths])


def _ours(kind: str, waves: np.ndarray, params: dict) -> np.ndarray:
    return extract(kind, torch.from_numpy(waves), SR, params).numpy()


def _assert_db_close(ours: np.ndarray, ref: np.ndarray, floor_db: float) -> None:
    # float32 against float64 differs by rounding only, but on bins near the amin floor (-100 dB)
    # that rounding is a large relative change of a meaningless number, so compare the bins
    # above `floor_db` to 0.05 dB and check the rest only stays near the floor too.
    assert ours.shape == ref.shape
    loud = ref > floor_db
    assert loud.mean() > 0.5
    np.testing.assert_allclose(ours[loud], ref[loud], atol=0.05)
    assert np.all(ours[~loud] < floor_db + 1.0)


def test_logmel_matches_librosa(waves, config):
    p = config["features"]["logmel"]
    absolute = _ours("logmel", waves, {**p, "ref": 1.0, "top_db": None})
    # dchung1209's front-end: each clip's peak at 0 dB, floored 80 dB below it
    relative = _ours("logmel", waves, {**p, "ref": "max", "top_db": 80.0})
    for x, o, r in zip(waves, absolute, relative):
        mel = librosa.feature.melspectrogram(y=x, sr=SR, n_fft=p["n_fft"],
                                             win_length=p["win_length"],
                                             hop_length=p["hop_length"], n_mels=p["n_mels"],
                                             fmin=p["fmin"], fmax=p["fmax"])
        _assert_db_close(o, librosa.power_to_db(mel, ref=1.0, top_db=None), floor_db=-80.0)
        expected = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
        assert r.max() == pytest.approx(0.0, abs=1e-4) and r.min() >= -80.0 - 1e-4
        _assert_db_close(r, expected, floor_db=-79.0)


def test_stft_db_matches_librosa_both_refs(waves, config):
    p = config["features"]["stft"]
    for ref_name, ref in (("max", np.max), (1.0, 1.0)):
        ours = _ours("stft", waves, {**p, "ref": ref_name})
        for x, o in zip(waves, ours):
            mag = np.abs(librosa.stft(x, n_fft=p["n_fft"], hop_length=p["hop_length"]))
            expected = librosa.amplitude_to_db(mag, ref=ref)
            # librosa clips at top_db=80 below the peak: everything is above that floor.
            _assert_db_close(o, expected, floor_db=expected.max() - 79.0)


def test_mfcc_matches_librosa(waves, config):
    p = config["features"]["mfcc"]
    ours = _ours("mfcc", waves, p)
    for x, o in zip(waves, ours):
        ref = librosa.feature.mfcc(y=x, sr=SR, n_mfcc=p["n_mfcc"], n_fft=p["n_fft"],
                                   hop_length=p["hop_length"], n_mels=p["n_mels"],
                                   fmin=p["fmin"], fmax=p["fmax"])
        assert o.shape == ref.shape
        # Each coefficient sums 128 dB values; float32 rounding of 1e-5 dB each stays far below
        # 0.01 (the coefficients span hundreds).
        np.testing.assert_allclose(o, ref, atol=1e-2)


def test_cwt_matches_pywt_morlet(waves):
    x = waves[0, :12000]  # the loud part of the sentence; pywt takes ~1 s per 4 s file
    ref, _ = pywt.cwt(x.astype(np.float64), np.arange(1, 128), "morl")
    ours = cwt_morlet(torch.from_numpy(x)[None], n_scales=127)[0].numpy()
    # Same arithmetic in float32 through the FFT: the error is rounding, relative to the largest
    # coefficient (~1e-7 measured). Edges included: the zero padding is the same as pywt's.
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-4 * np.abs(ref).max()


def test_scalogram_is_frame_mean_of_pywt_magnitude(waves, config):
    p = config["features"]["scalogram"]
    hop = p["hop_length"]
    x = waves[1, 16000:16000 + 10 * hop + 100]  # ends with a short frame of 100 samples
    ref, _ = pywt.cwt(x.astype(np.float64), np.arange(1, p["n_scales"] + 1), "morl")
    frames = [np.abs(ref[:, i:i + hop]).mean(axis=1) for i in range(0, x.size, hop)]
    expected = np.stack(frames, axis=1)
    ours = _ours("scalogram", x[None].copy(), p)[0]
    assert ours.shape == (p["n_scales"], 11)
    assert np.abs(ours - expected).max() < 1e-4 * expected.max()


def test_waveform_is_identity_and_bad_params_are_named(waves):
    assert np.array_equal(_ours("waveform", waves, {}), waves)
    with pytest.raises(ValueError, match="n_mel"):
        _ours("logmel", waves, {"n_mel": 64})
    with pytest.raises(ValueError, match="unknown feature kind 'mel'"):
        _ours("mel", waves, {})


def test_batched_threads_and_shared_stft_equal_extract_per_kind(waves, config):
    # Three items in batches of 2 on 2 worker threads: the last batch is short, mfcc and stft
    # share one power spectrogram (equal framing in config.yaml), logmel does not.
    w = torch.from_numpy(np.concatenate([waves, waves[:1, ::-1].copy()]))
    torch.set_num_threads(2)
    # the torch kinds of config.yaml (the openSMILE functionals are extracted per file)
    kinds = {k: v for k, v in config["features"].items() if k in FEATURES}
    feats = extract_batches(w, SR, kinds, batch_size=2, workers=2)
    assert torch.get_num_threads() == 2
    assert list(feats) == list(kinds)
    for kind, params in kinds.items():
        expected = extract(kind, w, SR, params)
        assert feats[kind].shape == expected.shape
        torch.testing.assert_close(feats[kind], expected, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="does not take \\['power'\\]"):
        extract_batches(w, SR, {"stft": {"power": 1.0}})


def test_compose_image_order_and_shape(waves, config):
    f = config["features"]
    w = torch.from_numpy(waves)
    stft, scal, mf = (extract(k, w, SR, f[k]) for k in ("stft", "scalogram", "mfcc"))
    img = compose_image(stft, scal, mf, size=(64, 48))
    assert img.shape == (2, 3, 64, 48) and img.dtype == torch.float32
    # Channel order red/green/blue = STFT dB (<= 0, ref max) / scalogram (>= 0) / MFCC, checked
    # through each channel's mean, which bicubic resizing keeps close.
    for c, feat in enumerate((stft, scal, mf)):
        assert torch.allclose(img[:, c].mean(dim=(1, 2)), feat.mean(dim=(1, 2)),
                              rtol=0.05, atol=0.5)
    assert img[:, 0].max() <= 0.5 and img[:, 1].min() >= -0.05 * scal.max()
    with pytest.raises(ValueError, match="stft"):
        compose_image(stft[0], scal, mf)
