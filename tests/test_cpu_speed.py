"""The faster CPU path of issue 34 trains the same recipe: dropout masks of 16-bit draws are
Bernoulli(1 - p) with torch's scaling, the first block's BatchNorm folded from patch statistics
is BatchNorm (outputs, gradients, running statistics), and bf16 autocast is taken only where
the CPU has the instructions and recorded with the run."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import ser.models.cnn6 as cnn6
import ser.train.config as train_config
from ser.models.dropout import dropout, keep_mask
from ser.train.config import TrainConfig, autocast_dtype, cpu_has_bf16
from ser.train.loop import Trainer
from test_train import CFG, Interrupt, make_data, run, stop_after, tiny_cnn

CPU = torch.device("cpu")


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_keeps_each_element_with_probability_one_minus_p(p: float) -> None:
    torch.manual_seed(0)
    x = torch.rand(2**20) + 1.0  # no zeros of its own
    y = dropout(x, p, True)
    kept = y != 0
    sigma = (p * (1 - p) / x.numel()) ** 0.5
    assert abs(kept.float().mean().item() - (1 - p)) < 5 * sigma
    assert torch.equal(y[kept], x[kept] * (1 / (1 - p)))
    # the four 16-bit quarters of a draw are independent: neighbours agree as chance predicts
    both = (kept[:-1] & kept[1:]).float().mean().item()
    assert abs(both - (1 - p) ** 2) < 10 * sigma


def test_dropout_mask_follows_the_seed_and_the_input_layout() -> None:
    x = torch.randn(4, 6, 8, 10).contiguous(memory_format=torch.channels_last)
    torch.manual_seed(3)
    a = keep_mask(x, 0.3)
    torch.manual_seed(3)
    assert torch.equal(a, keep_mask(x, 0.3))
    assert not torch.equal(a, keep_mask(x, 0.3))  # the generator moved on
    y = dropout(x, 0.3, True)
    assert y.is_contiguous(memory_format=torch.channels_last) and y.shape == x.shape
    assert dropout(x, 0.3, False) is x and dropout(x, 0.0, True) is x


def test_dropout_gradient_is_the_scaled_mask() -> None:
    torch.manual_seed(1)
    x = (torch.rand(3, 5, 7) + 1.0).requires_grad_()
    y = dropout(x, 0.25, True)
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad, (y != 0).float() / 0.75)


def block_pair(kernel: int, momentum: float | None) -> tuple[cnn6.Cnn6Block, cnn6.Cnn6Block]:
    torch.manual_seed(kernel)
    a = cnn6.Cnn6Block(1, 6, kernel)
    a.bn.momentum = momentum
    with torch.no_grad():
        a.bn.weight.uniform_(0.5, 1.5)
        a.bn.bias.uniform_(-0.5, 0.5)
    b = cnn6.Cnn6Block(1, 6, kernel)
    b.bn.momentum = momentum
    b.load_state_dict(a.state_dict())
    return a, b


@pytest.mark.parametrize("kernel,momentum", [(3, 0.1), (5, None)])
def test_batch_norm_of_patches_is_batch_norm(kernel: int, momentum: float | None) -> None:
    a, b = block_pair(kernel, momentum)
    for step in range(3):  # the running statistics over several batches
        x = torch.randn(5, 1, 12, 20) * 3 + 1  # not centred: the patches' mean matters
        reference = a.bn(a.conv(x))
        folded = cnn6.batch_norm_of_patches(x, b.conv, b.bn)
        torch.testing.assert_close(folded, reference, rtol=1e-4, atol=1e-4)
        grad = torch.randn_like(reference)
        (reference * grad).sum().backward()
        (folded * grad).sum().backward()
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        torch.testing.assert_close(pb.grad, pa.grad, rtol=1e-4, atol=1e-4, msg=name)
    for name, buffer in a.bn.named_buffers():
        torch.testing.assert_close(getattr(b.bn, name), buffer, rtol=1e-5, atol=1e-6, msg=name)


def test_cnn6_first_block_trains_with_the_folded_batch_norm(monkeypatch) -> None:
    calls = []
    fold = cnn6.batch_norm_of_patches
    monkeypatch.setattr(cnn6, "batch_norm_of_patches", lambda *a: calls.append(1) or fold(*a))
    model = cnn6.Cnn6(8)
    x = torch.randn(4, 64, 40)
    model(x)
    assert len(calls) == 1  # the first block only: the others have more than one channel
    model.eval()
    a, b = model.blocks[0], cnn6.Cnn6Block(1, 24, 3)
    b.load_state_dict(a.state_dict())
    b.eval()
    image = x[:, None]
    torch.testing.assert_close(a(image), F.avg_pool2d(F.relu(b.bn(b.conv(image))), 2))
    assert len(calls) == 1  # evaluation reads the running statistics, as BatchNorm's


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="Linux's CPU flags")
def test_bf16_instructions_are_detected_from_the_cpu() -> None:
    assert cpu_has_bf16() == bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


@pytest.mark.parametrize("amp_cpu,has_bf16,expected", [
    (True, True, torch.bfloat16), (True, False, None), (False, True, None)])
def test_bf16_autocast_only_where_asked_and_the_cpu_has_it(monkeypatch, amp_cpu: bool,
                                                          has_bf16: bool, expected) -> None:
    monkeypatch.setattr(train_config, "cpu_has_bf16", lambda: has_bf16)
    cfg = TrainConfig(amp_cpu=amp_cpu)
    assert autocast_dtype(cfg, CPU) is expected
    trainer = Trainer(tiny_cnn(), make_data(), cfg, CPU)
    seen = []
    trainer.model[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    trainer.step(*next(trainer.data.batches("train", 8, trainer.generator))[:2])
    assert seen == [expected or torch.float32]
    assert trainer.precision == ("bfloat16 autocast" if expected else "float32")


def test_precision_is_recorded_and_a_state_of_another_precision_not_resumed(
        tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setattr(train_config, "cpu_has_bf16", lambda: False)
    bf16 = TrainConfig(**{**CFG.as_dict(), "amp_cpu": True})
    with pytest.raises(Interrupt):
        run(tmp_path, bf16, after_epoch=stop_after(2))  # float32 here: no bf16 instructions
    monkeypatch.setattr(train_config, "cpu_has_bf16", lambda: True)
    epochs = []
    with caplog.at_level(logging.INFO):
        run(tmp_path, bf16, after_epoch=epochs.append)
    assert epochs == [1, 2, 3, 4, 5] and "ignoring resume state" in caplog.text
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["precision"] == \
        "bfloat16 autocast"


@pytest.mark.parametrize("shape", [(3, 4, 8, 10), (2, 5, 7, 9)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_relu_pool_backward_is_torch_s(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    y = torch.randn(shape).to(dtype).contiguous(memory_format=torch.channels_last)
    a, b = y.clone().requires_grad_(), y.clone().requires_grad_()
    out_a, out_b = F.avg_pool2d(F.relu(a), 2), cnn6.ReluAvgPool.apply(b)
    grad = torch.randn_like(out_a)
    out_a.backward(grad)
    out_b.backward(grad)
    assert torch.equal(out_b, out_a) and torch.equal(b.grad, a.grad)  # odd sizes included
    assert b.grad.is_contiguous(memory_format=torch.channels_last)


def test_the_benchmark_s_path_before_is_torch_s_own_operations() -> None:
    """benchmarks/train_speed.py's 'before' candidate must run the operations of before the
    issue, and every candidate must leave cnn6 as it found it."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "train_speed", Path(__file__).resolve().parents[1] / "benchmarks" / "train_speed.py")
    speed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(speed)
    faster = (cnn6.dropout, cnn6.batch_norm_of_patches, cnn6.ReluAvgPool)
    block = cnn6.Cnn6Block(1, 4, 3)
    x = torch.randn(2, 1, 6, 8, requires_grad=True)
    with speed.parts_of(speed.BEFORE):
        assert cnn6.dropout is F.dropout
        assert type(cnn6.batch_norm_of_patches(x, block.conv, block.bn).grad_fn).__name__ == \
            "NativeBatchNormBackward0"
        assert type(cnn6.ReluAvgPool.apply(x).grad_fn).__name__ == "AvgPool2DBackward0"
    assert (cnn6.dropout, cnn6.batch_norm_of_patches, cnn6.ReluAvgPool) == faster
    with speed.parts_of(speed.NOW):
        assert (cnn6.dropout, cnn6.batch_norm_of_patches, cnn6.ReluAvgPool) == faster
