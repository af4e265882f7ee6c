"""ser.train.recipe through the trainer: augmentations in training only, multi-crop test
averaging independent of the batch split, the weights' moving average kept and resumed."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from ser.train.config import TrainConfig
from ser.train.loop import Trainer, train_fold
from ser.train.recipe import crop_starts, mel_shift, multi_crop, random_crop
from test_train import LOG, N_FRAMES, assert_same_run, make_data, stop_after, Interrupt, tiny_cnn

CROP = 12
RECIPE = TrainConfig(epochs=4, patience=4, batch_size=16, lr=0.01, specaugment=True, mixup=0.4,
                     label_smoothing=0.1, ema=0.9, crop_frames=CROP, test_crops=3)


class Recorder(nn.Module):
    """The tiny CNN, remembering every input it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.net = tiny_cnn()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.net(x)


def trainer(cfg: TrainConfig = RECIPE) -> Trainer:
    data = make_data().to("cpu")
    return Trainer(Recorder(), data, replace(cfg, ema=0.0, channels_last=False),
                   torch.device("cpu"))


def fixed_batch(t: Trainer, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, y, _ = next(t.data.batches(split, 64))  # unshuffled, normalised: the clean input
    return x, y


def test_augmentations_change_training_inputs_only() -> None:
    t = trainer(replace(RECIPE, mel_shift=2))  # every augmentation of the recipe at once
    x, y = fixed_batch(t, "train")
    t.step(x, y)
    (seen,) = t.model.seen
    assert seen.shape == (len(y), 1, x.shape[2], CROP)
    # masks and mixup on top of the crops: no example trained on is a window of its own clean
    # example (crops alone would be one each)
    for clean, out in zip(x, seen):
        assert not any(torch.equal(out, clean[..., s:s + CROP])
                       for s in range(N_FRAMES - CROP + 1))

    t.model.seen.clear()
    tx, ty = fixed_batch(t, "test")
    first, _ = t.predict("test")
    torch.randint(0, 9, (5,), generator=t.generator)  # the training generator moves on
    np.random.seed(123)
    second, _ = t.predict("test")
    np.testing.assert_array_equal(first, second)
    # what the model saw at test time: exactly the evenly spaced crops of the clean input
    n_batches = -(-len(ty) // t.cfg.batch_size)
    assert torch.equal(torch.cat(t.model.seen[:n_batches]), multi_crop(tx, CROP, 3))


@pytest.mark.parametrize("batch_size", [1, 5, 7])
def test_multi_crop_average_does_not_depend_on_the_batch_split(batch_size: int) -> None:
    whole = trainer(replace(RECIPE, batch_size=64))
    probs, _ = whole.predict("test")
    split = trainer(replace(RECIPE, batch_size=batch_size))
    split.model.load_state_dict(whole.model.state_dict())
    again, _ = split.predict("test")
    np.testing.assert_allclose(again, probs, rtol=0, atol=1e-6)
    # and it is the mean of each crop's softmax, computed independently here
    x, _ = fixed_batch(whole, "test")
    net = whole.model.net.eval()
    with torch.no_grad():
        manual = torch.stack([net(x[..., s:s + CROP]).softmax(1)
                              for s in crop_starts(N_FRAMES, CROP, 3)]).mean(0)
    np.testing.assert_allclose(probs, manual.numpy(), rtol=0, atol=1e-6)


def test_crops_are_windows_of_their_own_example() -> None:
    x = torch.arange(4 * 2 * 10, dtype=torch.float32).view(4, 1, 2, 10)
    crops = random_crop(x, 6, torch.Generator().manual_seed(0))
    starts = []
    for example, crop in zip(x, crops):
        start = int(crop[0, 0, 0] - example[0, 0, 0])
        assert torch.equal(crop, example[..., start:start + 6])
        starts.append(start)
    assert len(set(starts)) > 1  # each example draws its own start
    assert crop_starts(10, 6, 3) == [0, 2, 4]
    with pytest.raises(ValueError, match="crop_frames = 11"):
        random_crop(x, 11, torch.Generator())


def shifted_by(example: torch.Tensor, bins: int) -> torch.Tensor:
    """One (C, F, T) example with its frequency axis moved up by `bins`, the edge bin repeated."""
    n_freq = example.shape[-2]
    return example[:, (torch.arange(n_freq) - bins).clamp(0, n_freq - 1)]


def test_mel_shift_moves_each_example_by_its_own_bins_and_repeats_the_edge() -> None:
    n_freq, n_time = 10, 3
    x = (torch.arange(n_freq, dtype=torch.float32)[:, None] + 100 * torch.arange(16)[:, None, None]
         ).expand(16, n_freq, n_time).unsqueeze(1).contiguous()    # (16, 1, F, T): bin f holds f
    shifted = mel_shift(x, 3, torch.Generator().manual_seed(0))
    shifts = set()
    for example, out in zip(x, shifted):
        found = [s for s in range(-3, 4) if torch.equal(out, shifted_by(example, s))]
        assert len(found) == 1  # one whole shift, in range, the edge bin repeated
        assert torch.equal(out, out[..., :1].expand_as(out))  # the same for every frame
        shifts.add(found[0])
    assert len(shifts) > 2  # each example draws its own
    wave = torch.randn(4, 100)
    assert torch.equal(mel_shift(wave, 3, torch.Generator()), wave)
    assert torch.equal(mel_shift(x, 0, torch.Generator()), x)


def test_trainer_shifts_mels_only_in_training() -> None:
    """With the other augmentations off, the batch trained on is a mel shift of the clean one."""
    t = trainer(TrainConfig(epochs=1, batch_size=16, mel_shift=2))
    x, y = fixed_batch(t, "train")
    t.step(x, y)
    (seen,) = t.model.seen
    assert not torch.equal(seen, x)
    for clean, out in zip(x, seen):
        assert any(torch.equal(out, shifted_by(clean, s)) for s in range(-2, 3))
    t.model.seen.clear()
    t.predict("test")
    tx, _ = fixed_batch(t, "test")
    assert torch.equal(torch.cat(t.model.seen)[:len(tx)], tx)


def test_trainer_masks_spectrograms_only_in_training() -> None:
    """SpecAugment alone: every example trained on is its clean example with whole frequency
    bands and whole time spans set to 0 (2 masks per axis, each at most 1/8 of it), and
    the evaluation input is the clean one."""
    t = trainer(TrainConfig(epochs=1, batch_size=16, specaugment=True))
    x, y = fixed_batch(t, "train")
    t.step(x, y)
    (seen,) = t.model.seen
    assert seen.shape == x.shape and not torch.equal(seen, x)
    n_freq, n_time = x.shape[-2:]
    for clean, out in zip(x[:, 0], seen[:, 0]):
        changed = out != clean
        assert (out[changed] == 0).all()  # a mask sets to 0, nothing else moves
        rows, cols = (out == 0).all(1), (out == 0).all(0)
        assert torch.equal(changed, (rows[:, None] | cols[None, :]) & (clean != 0))
        for mask, length in ((rows, n_freq), (cols, n_time)):
            runs = torch.diff(torch.cat([torch.zeros(1), mask.float(), torch.zeros(1)]))
            widths = (torch.nonzero(runs == -1) - torch.nonzero(runs == 1)).flatten()
            # two masks, each at most 1/8 of the axis wide (they may touch or overlap)
            assert len(widths) <= 2 and int(mask.sum()) <= 2 * max(1, int(length * 0.125))
    t.model.seen.clear()
    t.predict("test")
    tx, _ = fixed_batch(t, "test")
    assert torch.equal(torch.cat(t.model.seen)[:len(tx)], tx)


def test_mixup_trains_on_convex_pairs_with_the_drawn_coefficient(monkeypatch) -> None:
    """mixup alone: every example trained on is lam x_i + (1 - lam) x_j of two clean examples
    with the lam drawn from Beta(alpha, alpha), and the loss mixes the two labels by lam."""
    drawn = []
    beta = np.random.beta

    def spy(a, b, *args):
        drawn.append((a, b, beta(a, b, *args)))
        return drawn[-1][2]

    monkeypatch.setattr(np.random, "beta", spy)
    t = trainer(TrainConfig(epochs=1, batch_size=16, mixup=0.4))
    x, y = fixed_batch(t, "train")
    loss, logits = t.step(x, y)
    (seen,) = t.model.seen
    ((a, b, lam),) = drawn
    assert (a, b) == (0.4, 0.4) and 0 < lam < 1
    partners = []
    for i, out in enumerate(seen):
        match = [j for j in range(len(x))
                 if torch.allclose(out, lam * x[i] + (1 - lam) * x[j], atol=1e-6)]
        assert match, f"example {i} is no convex pair with weight {lam} of its own"
        partners.append(match[0])
    assert sorted(partners) == list(range(len(x)))  # a permutation of the batch
    ce = nn.CrossEntropyLoss(label_smoothing=t.cfg.label_smoothing)
    expected = lam * ce(logits, y) + (1 - lam) * ce(logits, y[partners])
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    t.model.seen.clear()
    t.predict("test")
    tx, _ = fixed_batch(t, "test")
    assert torch.equal(torch.cat(t.model.seen)[:len(tx)], tx)


def test_weight_ema_warms_up_as_computed_by_hand() -> None:
    """decay_t = min(decay, t / (t + 9)) for step t = 1, 2, ...: the first steps follow the live
    weights closely, later ones average them."""
    from ser.train.recipe import WeightEMA

    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = WeightEMA(model, 0.5)
    expected, live = 1.0, [3.0, -2.0, 5.0, 0.5]
    for t, w in enumerate(live, 1):
        with torch.no_grad():
            model.weight.fill_(w)
        ema.update(model)
        decay = min(0.5, t / (t + 9))   # 0.1, 0.1818..., 0.25, 0.3077...
        expected = decay * expected + (1 - decay) * w
        assert float(ema.module.weight) == pytest.approx(expected, rel=1e-6)
    # by hand: 2.8, -1.1273, 3.4682, then 4/13 * 3.4682 + 9/13 * 0.5
    assert expected == pytest.approx(1.4133, rel=1e-4)


def test_moving_average_is_what_is_kept_and_it_resumes(tmp_path: Path) -> None:
    def run(where: Path, **kwargs) -> dict:
        return train_fold(tiny_cnn(), make_data(), RECIPE, where / "out", LOG,
                          state_dir=where / "state", info={"model": "tiny"}, **kwargs)

    metrics = run(tmp_path / "whole")
    assert metrics["accuracy"] > 0.3
    with pytest.raises(Interrupt):
        run(tmp_path / "cut", after_epoch=stop_after(2))
    run(tmp_path / "cut")
    assert_same_run(tmp_path / "whole" / "out", tmp_path / "cut" / "out")
    # the saved weights are the average, not the last step's: they differ from a plain run's
    plain = train_fold(tiny_cnn(), make_data(), replace(RECIPE, ema=0.0), tmp_path / "plain",
                       LOG, info={"model": "tiny"})
    kept = torch.load(tmp_path / "whole" / "out" / "model.pt", weights_only=True)["state_dict"]
    other = torch.load(tmp_path / "plain" / "model.pt", weights_only=True)["state_dict"]
    assert not torch.equal(kept["0.weight"], other["0.weight"])
    assert json.loads((tmp_path / "whole" / "out" / "metrics.json").read_text())["n_test"] \
        == plain["n_test"]


def test_recipe_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(ema=1.0)
    with pytest.raises(ValueError, match="test_crops"):
        TrainConfig(test_crops=0)
    with pytest.raises(ValueError, match="mel_shift"):
        TrainConfig(mel_shift=-1)
