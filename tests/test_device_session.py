"""The GPU session's helpers (benchmarks/device/): what run.py trains there, how its epochs are
capped, the wheel that travels without CREPE full's weights, and summarise.py's tables, read
from the archives the H200 sent back on 2026-12-04 (benchmarks/device/results/)."""
from __future__ import annotations

import importlib.util
import logging
import tarfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEVICE = REPO / "benchmarks" / "device"
RESULTS = DEVICE / "results"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"device_{name}", DEVICE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_gpu_run_trains_the_torch_models_only(config):
    models = load("run").torch_models(config, logging.getLogger("test"))
    assert {"cnn6", "cnn14", "crepe_tiny_ws", "crepe_tiny_ft"} <= set(models)
    assert not {"egemaps_lr", "compare_lr", "compare_svm", "ge2e_lr"} & set(models)


def test_capped_epochs_keep_the_warmup_shorter(config):
    run = load("run")
    assert config["models"]["cnn6"]["warmup_epochs"] == 2
    entry = run.model_entry(config, "cnn6", 1)  # the session's 1-epoch warm run
    assert entry["epochs"] == 1 and entry["warmup_epochs"] == 0
    assert run.model_entry(config, "cnn6", 12)["warmup_epochs"] == 2
    assert run.model_entry(config, "cnn6", None)["epochs"] == 150


def test_packaged_weights_are_at_hand_without_a_weights_folder(tmp_path):
    run = load("run")
    entry, note = run.weights_choice({"pretrained": "packaged"}, tmp_path / "absent")
    assert entry["pretrained"] == "packaged" and note == ""
    entry, note = run.weights_choice({"pretrained": "imagenet"}, tmp_path / "absent")
    assert entry["pretrained"] == "none" and note == "imagenet weights not at hand"


def test_lightened_wheel_drops_the_member_and_its_record_line(tmp_path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/__init__.py", "x = 1\n")
        zf.writestr("pkg/assets/big.pth", b"0" * 1000)
        zf.writestr("pkg-1.0.dist-info/RECORD",
                    "pkg/__init__.py,sha256=a,6\npkg/assets/big.pth,sha256=b,1000\n"
                    "pkg-1.0.dist-info/RECORD,,\n")
    load("prepare").lighten(wheel, ["pkg/assets/big.pth"])
    with zipfile.ZipFile(wheel) as zf:
        assert sorted(zf.namelist()) == ["pkg-1.0.dist-info/RECORD", "pkg/__init__.py"]
        record = zf.read("pkg-1.0.dist-info/RECORD").decode()
    assert "big.pth" not in record and "pkg/__init__.py,sha256=a,6" in record


def device_csv(archive: Path, run: str) -> pd.DataFrame:
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(f"/{run}/device.csv"))
        return pd.read_csv(tar.extractfile(member))


def test_slots_table_is_the_sum_of_epochs_per_second():
    archive = RESULTS / "session_2026-12-04_seed0.tar.gz"
    one = device_csv(archive, "one")["s_per_epoch"].iloc[0]
    four = [device_csv(archive, f"four_{f}")["s_per_epoch"].iloc[0] for f in (1, 2, 3, 4)]
    table = load("summarise").slots(load("summarise").unpack(archive))
    assert table["jobs"].tolist() == [1, 4]
    ratio = sum(1 / s for s in four) / (1 / one)
    assert table["work_per_s_vs_1_job"].iloc[1] == pytest.approx(ratio)
    assert 2.5 < ratio < 4  # four small jobs share the H200 well, none is free


def test_projection_is_six_folds_at_the_recipe(config):
    summarise = load("summarise")
    archive = RESULTS / "session_2026-12-04_seed1.tar.gz"
    proj = summarise.projection(summarise.unpack(archive), config).set_index("model")
    row = device_csv(archive, "all_1").set_index("model").loc["cnn6"]
    fixed = row["job_s"] - row["s_per_epoch"] * row["epochs_run"]
    assert proj.loc["cnn6", "six_folds_gpu_min"] == pytest.approx(
        6 * (150 * row["s_per_epoch"] + fixed) / 60)
    assert proj.loc["ge2e_ws", "status"].startswith("failed: EncoderWeightsError")
    assert pd.isna(proj.loc["ge2e_ws", "six_folds_gpu_min"])


def test_folds_table_means_every_fold():
    summarise = load("summarise")
    archive = RESULTS / "full_recipes_2026-12-04.tar.gz"
    table = summarise.folds(summarise.unpack(archive)).set_index("model")
    ua = [device_csv(archive, f"cnn6_{f}")["ua"].iloc[0] for f in range(1, 7)]
    assert table.loc["cnn6", "folds"] == "1 2 3 4 5 6"
    ua = pd.Series(ua) * 100
    assert table.loc["cnn6", "ua"] == f"{ua.mean():.2f} ± {ua.std():.2f}"


def test_registered_seed_comes_from_the_call_or_run_json(tmp_path):
    summarise = load("summarise")
    archive = RESULTS / "full_recipes_2026-12-04_seed1.tar.gz"
    registry = tmp_path / "registry.csv"
    rows = summarise.register(summarise.unpack(archive), registry, "H200 test", "cmd", seed=1)
    ua = pd.Series([device_csv(archive, f"cnn6_{f}")["ua"].iloc[0] for f in range(1, 7)]) * 100
    cnn6 = rows.set_index("model").loc["cnn6"]
    assert cnn6["seed"] == 1 and cnn6["ua"] == pytest.approx(round(ua.mean(), 2))
    assert set(pd.read_csv(registry)["seed"]) == {1}
    folder = summarise.unpack(archive)  # a run.json that names another seed than --seed
    for info in folder.glob("*/run.json"):
        info.write_text(info.read_text().replace('"budget_s"', '"seed": 0, "budget_s"'))
    with pytest.raises(SystemExit, match="run.json says seed"):
        summarise.register(folder, registry, "H200 test", "cmd", seed=1)
    assert summarise.register(folder, tmp_path / "r0.csv", "x", "cmd")["seed"].eq(0).all()


def test_gpu_rerun_is_checked_against_the_registry_not_added():
    summarise = load("summarise")
    registry = REPO / "benchmarks" / "results" / "registry.csv"
    before = registry.read_bytes()
    setup = "H200 GPU, bf16 AMP, 7 jobs on the card; config.yaml"
    rerun = summarise.unpack(RESULTS / "full_recipes_2026-12-04_seed0_rerun.tar.gz")
    check = summarise.register(rerun, registry, setup, "cmd", seed=0,
                               check=True).set_index("model")
    assert registry.read_bytes() == before
    # cuDNN's kernels are not deterministic: same seed, folds a little apart
    assert check.loc["cnn6", "verdict"].startswith("differs: up to ")
    assert abs(check.loc["cnn6", "rerun ua"] - 57.55) < 1.0
