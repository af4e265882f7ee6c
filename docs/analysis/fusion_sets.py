"""Exploratory (issue 44, 2026-12-07): test UA of late fusions of finished runs' members, equal
weights against weights chosen on the validation actors (step argv[1]). The run folders are those
of that evening's laptop rerun and the GE2E runs; edit W and FT for others. Not a benchmark: no
registry row comes from it (docs/experiments.md says what it showed)."""
import sys, numpy as np, pandas as pd, itertools
sys.path.insert(0, ".")  # run from the repository root
from ser.models.fusion import LateFusion
from ser.metrics import classification_metrics
W = "/work/wl/benchmarks/out/cpu_bf16/emobox_6fold/results/models"
FT = "/work/w42/benchmarks/out/full_ge2e_ft/emobox_6fold/results/models"
base = {m: W for m in ["egemaps_lr", "compare_lr", "cnn6", "ge2e_lr", "ge2e_ws"]}
base["ge2e_ft"] = FT
base["ge2e_ft_s1"] = FT.replace("emobox_6fold/", "emobox_6fold_seed1/")
def load(m, f, split):
    t = pd.read_csv(f"{base[m]}/{m.replace('_s1','')}/fold_{f}/{'predictions' if split=='test' else 'val_predictions'}.csv").sort_values("file")
    return t
def ua(y, p): return classification_metrics(y, p.argmax(1), 8)["unweighted_accuracy"]
sets = {"all7": list(base), "lr+ft2": ["ge2e_lr","ge2e_ft","ge2e_ft_s1"], "lr+ws+ft2": ["ge2e_lr","ge2e_ws","ge2e_ft","ge2e_ft_s1"], "lr+ws+ft2+compare": ["ge2e_lr","ge2e_ws","ge2e_ft","ge2e_ft_s1","compare_lr"],"all6": list(base), "all5(no ft)": [m for m in base if m != "ge2e_ft"],
        "ge2e_lr+ge2e_ft+compare": ["ge2e_lr", "ge2e_ft", "compare_lr"],
        "ge2e_lr+ge2e_ft": ["ge2e_lr", "ge2e_ft"], "transfer3": ["ge2e_lr","ge2e_ws","ge2e_ft"]}
step = float(sys.argv[1]) if len(sys.argv) > 1 else 0.1
for name, ms in sets.items():
    eq, gr, single = [], [], {m: [] for m in ms}
    for f in range(1, 7):
        V = [load(m, f, "val") for m in ms]; T = [load(m, f, "test") for m in ms]
        pc = [c for c in V[0].columns if c.startswith("p_")]
        yv = V[0].y_true.values; yt = T[0].y_true.values
        pv = [v[pc].values for v in V]; pt = [t[pc].values for t in T]
        eq.append(ua(yt, sum(pt) / len(pt)))
        fu = LateFusion(ms, step).fit(pv, yv, 8)
        gr.append(ua(yt, fu.probabilities(pt)))
        for m, p in zip(ms, pt): single[m].append(ua(yt, p))
    print(f"{name:28s} equal {100*np.mean(eq):.2f}  grid {100*np.mean(gr):.2f}  " +
          " ".join(f"{m} {100*np.mean(v):.1f}" for m, v in single.items()))
