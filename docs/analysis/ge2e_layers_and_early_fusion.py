"""Exploratory (issue 44, 2026-12-07): GE2E's pooled layers together, and GE2E with eGeMAPS or
ComParE in one logistic regression (early fusion); C chosen on the validation actors, refitted on
training + validation actors, tested once. R is the laptop rerun's results folder. Not a
benchmark: no registry row comes from it (docs/experiments.md says what it showed)."""
"""Which GE2E layers together: C chosen on validation actors, test once."""
import sys, numpy as np, pandas as pd, h5py
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import make_pipeline
sys.path.insert(0, ".")  # run from the repository root
from ser.metrics import classification_metrics
R = "/work/wl/benchmarks/out/cpu_bf16/emobox_6fold/results"
feats, files = [], []
for a in range(1, 25):
    with h5py.File(f"{R}/features/ge2e/actor_{a:02d}.h5") as f:
        feats.append(f["features"][:]); files += [x.decode() if isinstance(x, bytes) else x for x in f["files"][:]]
X = pd.DataFrame(np.concatenate(feats), index=files)
meta = pd.read_csv(f"{R}/metadata.csv").set_index("file")
y = meta.loc[X.index, "emotion"].values - 1
folds = pd.read_csv(f"{R}/folds.csv")
L = {"lstm1": 0, "lstm2": 1, "lstm3": 2, "proj": 3, "emb": 4}
def cols(names): return np.concatenate([np.arange(L[n]*512, L[n]*512+512) for n in names])
combos = {"lstm2": ["lstm2"], "lstm1+2": ["lstm1","lstm2"], "lstm1+2+3": ["lstm1","lstm2","lstm3"],
          "all5": list(L)}
ua = lambda yt, p: classification_metrics(yt, p, 8)["unweighted_accuracy"]
for name, ls in combos.items():
    c = cols(ls); val_all, test_all = [], []
    for fold in range(1, 7):
        sp = folds[folds.fold == fold].set_index("file").loc[X.index, "split"].values
        best = None
        for C in [0.001, 0.003, 0.01, 0.03, 0.1]:
            m = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, class_weight="balanced"))
            m.fit(X.values[sp == "train"][:, c], y[sp == "train"])
            v = ua(y[sp == "val"], m.predict(X.values[sp == "val"][:, c]))
            if best is None or v > best[0]: best = (v, C, m)
        v, C, m = best
        # refit on train+val with chosen C
        m = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, class_weight="balanced"))
        tr = sp != "test"; m.fit(X.values[tr][:, c], y[tr])
        t = ua(y[sp == "test"], m.predict(X.values[sp == "test"][:, c]))
        val_all.append(v); test_all.append(t)
        print(name, fold, C, round(v, 3), round(t, 3), flush=True)
    print(f"== {name}: val {100*np.mean(val_all):.2f} test {100*np.mean(test_all):.2f}", flush=True)
def load_kind(kind):
    fs, names = [], []
    for a in range(1, 25):
        with h5py.File(f"{R}/features/{kind}/actor_{a:02d}.h5") as f:
            fs.append(f["features"][:]); names += [x.decode() if isinstance(x, bytes) else x for x in f["files"][:]]
    return pd.DataFrame(np.concatenate(fs), index=names).loc[X.index].values
G = X.values[:, cols(["lstm2"])]
E = load_kind("egemaps"); Cm = load_kind("compare")
for name, F in {"ge2e+egemaps": np.hstack([G, E]), "ge2e+compare": np.hstack([G, Cm])}.items():
    val_all, test_all = [], []
    for fold in range(1, 7):
        sp = folds[folds.fold == fold].set_index("file").loc[X.index, "split"].values
        best = None
        for C in [0.0003, 0.001, 0.003, 0.01, 0.03]:
            m = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, class_weight="balanced"))
            m.fit(F[sp == "train"], y[sp == "train"])
            v = ua(y[sp == "val"], m.predict(F[sp == "val"]))
            if best is None or v > best[0]: best = (v, C)
        v, C = best
        m = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, class_weight="balanced"))
        tr = sp != "test"; m.fit(F[tr], y[tr])
        t = ua(y[sp == "test"], m.predict(F[sp == "test"]))
        val_all.append(v); test_all.append(t)
    print(f"== {name}: val {100*np.mean(val_all):.2f} test {100*np.mean(test_all):.2f}", flush=True)
