"""`make demo`'s run (workflow/presets/demo.yaml, `all final`): its final model is the family
representative of highest mean validation UA, chosen here by hand from the folds' metrics, and
`ser predict` of that model's folder ends the demo with its validation scores."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest

from conftest import REPO, run_snakemake

pytestmark = pytest.mark.slow  # the whole demo: 4 models x 6 folds and a final model


def representatives_by_hand(rows: list[dict]) -> dict[str, tuple[str, float]]:
    """family -> (model, mean validation UA); a transfer model with random initial weights
    stands only when its family has no model with real ones."""
    val = defaultdict(list)
    for r in rows:
        val[(r["family"], r["model"], str(r["weights"]).lower().startswith("none"))].append(
            r["val_unweighted_accuracy"])
    best = {}
    for family in {f for f, _, _ in val}:
        models = [(m, random, np.mean(v)) for (f, m, random), v in val.items() if f == family]
        real = [x for x in models if not (family == "transfer" and x[1])]
        model, _, score = max(real or models, key=lambda x: x[2])
        best[family] = (model, score)
    return best


@pytest.mark.timeout(2400)  # beside the other slow tests on 2 cores the demo alone takes ~15 min
def test_the_demo_predicts_with_its_validation_best_model(tmp_path):
    run = tmp_path / "demo"
    run_snakemake(run, "--cores", "2", "all", "final", "--resources", "gpu=1",
                  configfiles=(REPO / "workflow/presets/demo.yaml",), timeout=2200)
    rows = [json.loads(p.read_text()) for p in run.glob("results/models/*/fold_*/metrics.json")]
    reps = representatives_by_hand(rows)
    assert set(reps) == {"scratch", "transfer", "classical"}
    assert reps["transfer"][0] == "ge2e_lr"  # real weights before the random-init resnet18
    model, score = max(reps.values(), key=lambda ms: ms[1])
    chosen = json.loads((run / "results/final/chosen.json").read_text())
    assert chosen["model"] == model and chosen["val_unweighted_accuracy"] == pytest.approx(score)
    assert sorted(p.name for p in (run / "results/final").iterdir()) == \
        sorted(["chosen.json", "folds.csv", model])
    audio = run / "resources/synthetic/audio"
    files = [audio / "Actor_19/03-01-05-02-01-01-19.wav", audio / "Actor_22/03-01-03-02-01-01-22.wav"]
    done = subprocess.run([sys.executable, "-m", "ser", "predict", str(run / chosen["folder"]),
                           *map(str, files)], capture_output=True, text=True, timeout=600,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 4 and lines[-1].startswith(f"{model} (")
    assert "UA" in lines[-1] and "speakers it was not trained on" in lines[-1]
