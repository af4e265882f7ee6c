"""Every registered model: parameter counts against independent figures, a forward pass on its
declared input, learning on 16 real RAVDESS recordings, and a state_dict round trip."""
from __future__ import annotations

import timm
import torch
import torch.nn.functional as F
import pytest
from torchvision import models as tvm

from ser.audio import fix_length, load_audio
from ser.encoders import is_encoder
from ser.features.extract import extract
from ser.features.image import compose_image
from ser.models import build_model, get_spec, list_models

N = 8
FEATURE_PARAMS = {  # config.yaml's defaults
    "logmel": {"n_fft": 1024, "win_length": 640, "hop_length": 160, "n_mels": 128,
               "fmin": 50.0, "fmax": 8000.0},
    "mfcc": {"n_mfcc": 40, "n_fft": 1024, "hop_length": 256, "n_mels": 128, "fmin": 0.0,
             "fmax": 8000.0},
    "stft": {"n_fft": 1024, "hop_length": 256},
    "scalogram": {"n_scales": 127, "hop_length": 256},
}
# the large models train on a part of the 16 examples to keep the CPU test run short
BATCH = {"inception_resnet_v2": 2, "cnn14": 4, "cnn14_attn": 4, "vgg19_bn_attn": 4, "resnet18": 8}


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def test_cnn14_has_the_published_parameter_count():
    # PANNs (arXiv 1912.10211): 80,753,615 trainable parameters for 527 classes; the front-end's
    # STFT kernels and mel filterbank are frozen and not counted.
    assert trainable(build_model("cnn14", 527)) == 80_753_615
    assert trainable(build_model("cnn14", N)) == 80_753_615 - linear(2048, 527) + linear(2048, N)


def test_cnn14_attn_counts_panns_blocks_plus_attention_and_head():
    widths = [1, 64, 128, 256, 512, 1024, 2048]
    blocks = sum(9 * a * b + 9 * b * b + 4 * b for a, b in zip(widths, widths[1:]))
    attention = linear(2048, 2048) + 2048
    assert trainable(build_model("cnn14_attn", N)) == blocks + attention + linear(2048, 512) \
        + linear(512, N)


def test_torchvision_models_count_the_library_constructor_plus_our_changes():
    rgb_to_grey = 64 * 3 * 7 * 7 - 64 * 1 * 7 * 7
    assert trainable(build_model("resnet18", N)) == trainable(tvm.resnet18(num_classes=N)) \
        - rgb_to_grey
    to_rgb = 3 * 1 * 3 * 3 + 3
    for name, net, c in (("vgg19_bn_attn", tvm.vgg19_bn(), 512),
                         ("alexnet_attn", tvm.alexnet(), 256)):
        attention = linear(c, c) + c
        assert trainable(build_model(name, N)) == to_rgb + trainable(net.features) + attention \
            + linear(c, N), name


def test_inception_trains_only_its_head_unless_finetuned():
    backbone = trainable(timm.create_model("inception_resnet_v2", num_classes=0))
    head = linear(1536, 1024) + linear(1024, N)
    assert trainable(build_model("inception_resnet_v2", N)) == head
    assert trainable(build_model("inception_resnet_v2", N, finetune=True)) == backbone + head


def test_kaggle_cnn1d_counts_the_keras_layers():
    convs = linear(8 * 1, 256) + linear(8 * 256, 256) + linear(8 * 256, 128) \
        + 3 * linear(8 * 128, 128) + linear(8 * 128, 64) + linear(8 * 64, 64)
    bns = 2 * 256 + 2 * 128
    # 251 frames -> MaxPool1D(8) twice -> 3 frames of 64 channels
    assert trainable(build_model("kaggle_cnn1d", N)) == convs + bns + linear(64 * 3, N)


def test_dchung_models_count_the_layers_of_his_notebook():
    # unpadded 3x3 convs: 128 x 256 -> 126 x 254 -> 63 x 127 -> ... -> 14 x 30, so the first FC
    # reads 32 * 14 * 30 = 13,440 values, the width in dchung's CNN-X
    convs = linear(9 * 1, 8) + linear(9 * 8, 16) + linear(9 * 16, 32)
    head = linear(13_440, 2048) + linear(2048, 2048) + linear(2048, N)
    assert trainable(build_model("cnnx", N)) == convs + head
    lstm = 2 * 4 * 256 * 256 + 2 * 4 * 256  # input and hidden gate matrices, their biases
    convs = linear(3 * 128, 64) + linear(3 * 64, 128) + linear(3 * 128, 256)
    assert trainable(build_model("cnn1d_lstm", N)) == convs + lstm + linear(256, N)
    # pooling after the first two convolutions only: 256 frames -> 254 -> 127 -> 125 -> 62 -> 60
    steps = build_model("cnn1d_lstm", N).conv(torch.zeros(1, 128, 256)).shape[-1]
    assert steps == 60
    with pytest.raises(ValueError, match=r"\(16, 16\) is too small"):
        build_model("cnnx", N, input_size=(16, 16))


def test_cnn6_counts_its_blocks_attention_and_head():
    # Kong et al.'s Cnn6 blocks (bias-free k x k conv + BatchNorm) at our widths, the U-vector
    # attention (W and u) and the two dense layers
    widths = [1, 24, 48, 96, 192]
    blocks = sum(9 * a * b + 2 * b for a, b in zip(widths, widths[1:]))
    attention = linear(192, 192) + 192
    assert trainable(build_model("cnn6", N)) == blocks + attention + linear(192, 192) \
        + linear(192, N)
    five = sum(25 * a * b + 2 * b for a, b in zip(widths, widths[1:]))
    assert trainable(build_model("cnn6", N, kernel=5, pooling="mean_max")) == five \
        + linear(192, 192) + linear(192, N)
    with pytest.raises(ValueError, match="pooling"):
        build_model("cnn6", N, pooling="max")


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="cnn14_attn.*resnet18"):
        build_model("resnet19", N)
    with pytest.raises(ValueError, match="unknown model"):
        get_spec("vgg16")


def test_unknown_hyperparameter_is_a_clear_error():
    with pytest.raises(ValueError, match="cnnx.*dropout_rate"):
        build_model("cnnx", N, dropout_rate=0.5)


@pytest.fixture(scope="module")
def real_batch(ravdess16k) -> tuple[torch.Tensor, torch.Tensor]:
    """16 real recordings of two actors (4 s at 16 kHz) and their emotion labels 0..7."""
    files = sorted(ravdess16k.glob("Actor_0[12]/*.flac"))[::7][:16]
    assert len(files) == 16
    waves = torch.stack([torch.from_numpy(fix_length(load_audio(f, 16000), 16000, 0.0, 4.0))
                         for f in files])
    labels = torch.tensor([int(f.name.split("-")[2]) - 1 for f in files])
    assert len(set(labels.tolist())) >= 4
    return waves, labels


def zscore(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean()) / x.std()


def model_input(name: str, waves: torch.Tensor) -> torch.Tensor:
    """The model's declared input, computed as the trainer would (z-scored over the batch)."""
    spec = get_spec(name).input
    feats = {k: zscore(extract(k, waves, 16000, FEATURE_PARAMS.get(k, {})))
             for k in spec.features}
    if spec.features == ("stft", "scalogram", "mfcc"):
        return compose_image(feats["stft"], feats["scalogram"], feats["mfcc"], spec.size)
    x = feats[spec.features[0]]
    if spec.size is None:
        return x
    return F.interpolate(x[:, None], size=spec.size, mode="bilinear", align_corners=False)


def seeded_loss(model, x, y, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)  # the same dropout and SpecAugment masks for every measurement
    return F.cross_entropy(model(x), y)


# the classical and fusion families are no torch modules: tests/test_classical.py and
# tests/test_fusion.py fit them
# heads on a pretrained encoder's pooled layers train in tests/test_encoder_heads.py: their input
# is not computed from a batch of windows; crepe_full_ft is crepe_tiny_ft's class at 60 times the
# compute (210 s here on 2 cores), so the tiny one stands for both
TORCH_MODELS = [n for n in list_models() if get_spec(n).trainer == "torch"
                and not is_encoder(get_spec(n).input.features[0]) and n != "crepe_full_ft"]


@pytest.mark.slow
@pytest.mark.parametrize("name", TORCH_MODELS)
def test_model_forwards_learns_and_round_trips(name, real_batch, tmp_path):
    torch.manual_seed(0)
    n = BATCH.get(name, 16)
    waves, labels = real_batch[0][:n], real_batch[1][:n]
    x = model_input(name, waves)
    model = build_model(name, N)
    assert model.weights_description == "none (random init)"

    model.train()
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    with torch.no_grad():
        before = seeded_loss(model, x, labels).item()
    for step in range(3):
        optimiser.zero_grad()
        seeded_loss(model, x, labels, seed=step + 1).backward()
        optimiser.step()
    with torch.no_grad():
        after = seeded_loss(model, x, labels).item()
    assert after < before, f"{name}: loss {before:.4f} -> {after:.4f}"

    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    reloaded = build_model(name, N)
    reloaded.load_state_dict(torch.load(path, weights_only=True))
    model.eval(), reloaded.eval()
    with torch.no_grad():
        logits = model(x)
        assert logits.shape == (n, N) and torch.isfinite(logits).all()
        assert torch.equal(logits, reloaded(x))


def test_attention_with_lambda_zero_is_average_pooling_and_weights_sum_to_one():
    from ser.models.attention import UVectorAttention

    torch.manual_seed(0)
    x = torch.randn(3, 16, 4, 5)
    assert torch.allclose(UVectorAttention(16, lambda_=0.0)(x), x.mean(dim=(2, 3)), atol=1e-6)
    pool = UVectorAttention(16)
    alpha = pool.weights(x)
    assert alpha.shape == (3, 20) and torch.allclose(alpha.sum(1), torch.ones(3))
    assert not torch.allclose(alpha, torch.full_like(alpha, 1 / 20))  # lambda 0.3 does weigh
    assert torch.allclose(pool(x), pool(x.flatten(2)))  # (B, C, H, W) and (B, C, L) agree


def test_specaugment_masks_whole_stripes_only_in_training():
    from ser.models.panns import drop_stripes

    torch.manual_seed(0)
    x = torch.ones(32, 1, 200, 64)
    time_masked = drop_stripes(x, 2, 64, 2)
    rows_zero = (time_masked == 0).all(dim=3)  # whole frames are zeroed, never parts
    assert ((time_masked == 0).any(dim=3) == rows_zero).all()
    assert rows_zero.sum(dim=(1, 2)).max() <= 2 * 63 and rows_zero.any()
    freq_masked = drop_stripes(x, 3, 8, 2)
    assert (freq_masked == 0).all(dim=2).sum(dim=(1, 2)).max() <= 2 * 7

    model = build_model("cnn14", N).eval()
    wave = torch.randn(2, 16000)
    with torch.no_grad():
        assert torch.equal(model(wave), model(wave))
