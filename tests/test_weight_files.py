"""Weight files fetched once and verified, against a loopback mirror serving files in the official
formats (small stand-ins we make and save the way the publishers do)."""
from __future__ import annotations

import hashlib
import json
import logging
import socket

import pytest
import torch
from torchvision import models as tvm

from ser.models import WeightsUnavailableError, build_model
from ser.models.panns import checkpoint_file
from ser.models.registry import required_weights
from ser.weight_files import WeightFile, fetch
from weights_server import serve

RESNET18 = "resnet18-f37072fd.pth"


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def mirror_dir(tmp_path_factory):
    """resnet18-f37072fd.pth as torchvision saves it (a plain state_dict), random weights."""
    folder = tmp_path_factory.mktemp("mirror")
    torch.manual_seed(21)
    torch.save(tvm.resnet18().state_dict(), folder / RESNET18)
    return folder


@pytest.fixture
def mirror(mirror_dir, monkeypatch, tmp_path):
    """The loopback mirror, with the stand-in's SHA-256 recorded in place of torchvision's."""
    checksums = tmp_path / "checksums.json"
    checksums.write_text(json.dumps({RESNET18: {"sha256": sha256(mirror_dir / RESNET18)}}))
    monkeypatch.setenv("SER_WEIGHTS_CHECKSUMS", str(checksums))
    with serve(mirror_dir) as server:
        monkeypatch.setenv("SER_WEIGHTS_MIRROR", server.url)
        yield server


def test_the_records_name_the_published_checksums():
    """torchvision's hash-in-name, Zenodo's MD5 for each PANNs checkpoint, timm's release name."""
    resnet, = required_weights("resnet18", "imagenet", {})
    assert resnet.expected() == ("sha256", "f37072fd")
    assert checkpoint_file(16000).expected() == ("md5", "362fc5ff18f1d6ad2f6d464b45893f2c")
    assert checkpoint_file(32000).expected() == ("md5", "541141fa2ee191a88f24a3219fff024e")
    timm_file, = required_weights("inception_resnet_v2", "imagenet", {})
    assert timm_file.expected() == ("sha256", "940b1cd6")
    assert required_weights("resnet18", "none", {}) == []
    assert required_weights("cnn14", "/my/Cnn14.pth", {}) == []


def test_fetched_once_from_the_mirror_then_used_from_the_cache(mirror, mirror_dir, tmp_path):
    cache = tmp_path / "cache"
    model = build_model("resnet18", 8, pretrained="imagenet", cache_dir=cache)
    official = torch.load(mirror_dir / RESNET18, weights_only=True)
    assert torch.equal(model.layer2[1].conv2.weight, official["layer2.1.conv2.weight"])
    build_model("resnet18", 8, pretrained="imagenet", cache_dir=cache)
    assert [path for _, path in mirror.requests] == [f"/{RESNET18}"]
    assert (cache / RESNET18).read_bytes() == (mirror_dir / RESNET18).read_bytes()


def test_a_truncated_cached_file_is_named_and_fetched_again(mirror, mirror_dir, tmp_path, caplog):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / RESNET18).write_bytes((mirror_dir / RESNET18).read_bytes()[:100_000])
    with caplog.at_level(logging.WARNING):
        build_model("resnet18", 8, pretrained="imagenet", cache_dir=cache)
    assert f"{cache / RESNET18}" in caplog.text and "100000 bytes" in caplog.text
    assert sha256(cache / RESNET18) == sha256(mirror_dir / RESNET18)
    assert len(mirror.requests) == 1


def test_a_corrupt_cached_file_without_network_is_one_clear_error(mirror_dir, tmp_path,
                                                                  monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    data = bytearray((mirror_dir / RESNET18).read_bytes())
    data[5000] ^= 0xFF  # one flipped byte: the size is right, the content is not
    (cache / RESNET18).write_bytes(bytes(data))
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("SER_WEIGHTS_MIRROR", f"http://127.0.0.1:{s.getsockname()[1]}")
    with pytest.raises(WeightsUnavailableError) as err:
        build_model("resnet18", 8, pretrained="imagenet", cache_dir=cache)
    message = str(err.value)
    # the real record: the stand-in is not torchvision's file, whose SHA-256 starts f37072fd
    assert f"{cache / RESNET18} fails its check" in message and "expected f37072fd" in message
    assert "--until weights" in message and "\n" not in message


def test_zenodo_md5_checks_a_panns_checkpoint(tmp_path, monkeypatch):
    """A checkpoint saved as PANNs saves it ({'iteration', 'model', 'sampler'}); the record's MD5
    decides whether the download is kept."""
    served = tmp_path / "served"
    served.mkdir()
    name = "Cnn14_16k_mAP=0.438.pth"
    state = {"conv_block1.conv1.weight": torch.randn(64, 1, 3, 3)}
    torch.save({"iteration": 0, "model": state, "sampler": {"indexes": [0, 1]}}, served / name)
    md5 = hashlib.md5((served / name).read_bytes()).hexdigest()
    with serve(served) as server:
        monkeypatch.setenv("SER_WEIGHTS_MIRROR", server.url)
        good = WeightFile(name, "https://zenodo.org/unused", md5=md5)
        path = fetch(good, tmp_path / "cache")
        assert hashlib.md5(path.read_bytes()).hexdigest() == md5
        wrong = WeightFile(name, "https://zenodo.org/unused", md5="0" * 32)
        with pytest.raises(WeightsUnavailableError, match=f"MD5 {md5}, expected 0{{32}}"):
            fetch(wrong, tmp_path / "other")
    assert not (tmp_path / "other" / name).exists()  # a wrong download is not kept
