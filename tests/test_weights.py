"""Pretrained weights: local files in the libraries' layouts land in the model; missing weights
with no network fail at once with a message naming the file and the folder; never random."""
from __future__ import annotations

import hashlib
import json
import socket

import numpy as np
import pytest
import torch
from torchvision import models as tvm

from ser.models import WeightsUnavailableError, build_model, weights_description
from ser.models.panns import Cnn14


def offline(*args, **kwargs):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (test: offline)")


def test_resnet18_loads_a_torchvision_state_dict(tmp_path):
    torch.manual_seed(1)
    official = tvm.resnet18()  # random, but in torchvision's layout (1000-class head)
    path = tmp_path / "resnet18-local.pth"
    torch.save(official.state_dict(), path)
    model = build_model("resnet18", 8, pretrained=str(path))
    ours, theirs = model.state_dict(), official.state_dict()
    assert torch.equal(ours["layer3.1.conv2.weight"], theirs["layer3.1.conv2.weight"])
    assert torch.equal(ours["bn1.running_var"], theirs["bn1.running_var"])
    # the grey first convolution is the RGB one summed over its colour channels
    torch.testing.assert_close(ours["conv1.weight"], theirs["conv1.weight"].sum(1, keepdim=True))
    assert ours["fc.weight"].shape == (8, 512)
    assert weights_description(model).startswith(f"file:{path}")


def test_vgg_attention_takes_the_pretrained_features(tmp_path):
    official = tvm.alexnet()
    path = tmp_path / "alexnet.pth"
    torch.save(official.state_dict(), path)
    model = build_model("alexnet_attn", 5, pretrained=str(path))
    assert torch.equal(model.features[3].weight, official.features[3].weight)


def test_a_file_of_another_architecture_is_rejected(tmp_path):
    path = tmp_path / "resnet34.pth"
    torch.save(tvm.resnet34().state_dict(), path)
    with pytest.raises(ValueError, match="resnet34.pth.*unexpected.*layer1.2"):
        build_model("resnet18", 8, pretrained=str(path))


def test_panns_checkpoint_from_a_local_file(tmp_path):
    torch.manual_seed(2)
    released = Cnn14()  # the 527-class layout of the Zenodo files
    path = tmp_path / "Cnn14_16k_mAP=0.438.pth"
    torch.save({"iteration": 0, "model": released.state_dict(), "sampler": None}, path)
    model = build_model("cnn14", 8, pretrained=str(path))
    assert torch.equal(model.conv_block4.conv1.weight, released.conv_block4.conv1.weight)
    assert torch.equal(model.fc1.bias, released.fc1.bias)
    assert model.fc_audioset.weight.shape == (8, 2048)  # the new head, not AudioSet's
    assert weights_description(model).startswith("file:")


def test_timm_weights_from_a_local_file(tmp_path):
    import timm

    official = timm.create_model("inception_resnet_v2")
    path = tmp_path / "inception_resnet_v2.pth"
    torch.save(official.state_dict(), path)
    model = build_model("inception_resnet_v2", 8, pretrained=str(path))
    assert torch.equal(model.backbone.conv2d_1a.conv.weight, official.conv2d_1a.conv.weight)


@pytest.mark.parametrize("name,pretrained,file_name", [
    ("resnet18", "imagenet", "resnet18-f37072fd.pth"),
    ("vgg19_bn_attn", "imagenet", "vgg19_bn-c79401a0.pth"),
    ("inception_resnet_v2", "imagenet", "inception_resnet_v2-940b1cd6.pth"),
    ("cnn14", "audioset", "Cnn14_16k_mAP=0.438.pth"),
])
def test_missing_weights_fail_fast_naming_file_and_folder(tmp_path, monkeypatch, name,
                                                          pretrained, file_name):
    # no network, as on a compute node: name resolution fails (and nothing big is downloaded on
    # machines that do have a network)
    lookups = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: lookups.append(a) or offline())
    cache = tmp_path / "weights"
    with pytest.raises(WeightsUnavailableError) as err:
        build_model(name, 8, pretrained=pretrained, cache_dir=cache)
    assert len(lookups) == 1  # fails at the first lookup: no retries, however loaded the machine
    message = str(err.value)
    assert file_name in message and str(cache.resolve()) in message
    assert "pretrained: <path" in message
    assert not (cache / file_name).exists()  # nothing half-downloaded left as if cached


def test_32k_cnn14_asks_for_the_32k_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", offline)
    with pytest.raises(WeightsUnavailableError, match="Cnn14_mAP=0.431.pth"):
        build_model("cnn14", 8, pretrained="audioset", cache_dir=tmp_path, sample_rate=32000)


def test_cached_file_is_used_without_network(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", offline)
    torch.manual_seed(3)
    official = tvm.resnet18()
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(official.state_dict(), path)
    # a stand-in for torchvision's file: its own SHA-256 replaces the one in the name
    checksums = tmp_path / "checksums.json"
    checksums.write_text(json.dumps({path.name: {"sha256": hashlib.sha256(
        path.read_bytes()).hexdigest()}}))
    monkeypatch.setenv("SER_WEIGHTS_CHECKSUMS", str(checksums))
    model = build_model("resnet18", 8, pretrained="imagenet", cache_dir=tmp_path)
    assert torch.equal(model.layer4[0].conv1.weight, official.layer4[0].conv1.weight)
    assert weights_description(model).startswith("imagenet:ResNet18_Weights.IMAGENET1K_V1")


def test_scratch_models_refuse_imagenet_and_random_init_is_recorded():
    assert weights_description(build_model("cnnx", 8)) == "none (random init)"
    with pytest.raises(ValueError, match="imagenet"):
        build_model("cnnx", 8, pretrained="imagenet")
    with pytest.raises(ValueError, match="neither"):
        build_model("resnet18", 8, pretrained="imagnet")


def test_unreadable_file_names_the_file(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="garbage.pth"):
        build_model("resnet18", 8, pretrained=str(path))


@pytest.mark.parametrize("name", ["resnet18", "alexnet_attn", "inception_resnet_v2", "cnn14"])
def test_a_missing_local_file_is_named_as_missing(tmp_path, name):
    missing = tmp_path / "nowhere" / "weights.pth"
    with pytest.raises(FileNotFoundError, match=f"{missing}: weights file does not exist"):
        build_model(name, 8, pretrained=str(missing))
