"""The trainer against the linear probe on real photos: accuracy on the test split, the recipe the cross-validation
chose, and time-to-model, side by side in one run (issue 11's checks).

    .venv/bin/python benchmarks/bench_recipes.py                       # forklift_person and hymenoptera from ../shared/datasets
    .venv/bin/python benchmarks/bench_recipes.py --sets forklift_person:train:test --shots all,10 --seeds 0,1,2

For every (set, shots, seed): `train.train` (the search, default budget) then `evaluate.evaluate` on the test split, and
the probe (frozen centre-crop features + LogisticRegression(C=1), `shared/tools/linear_probe_baseline.py`'s recipe) on
the very same shots (`core.draw_shots`). Prints one line per run and a summary table; `--json FILE` keeps the rows.
"""
from __future__ import annotations
import argparse, json, os, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent/"shared"/"datasets"


def probe_features(folder, net, size=224):
    from remyx_nb.core import image_folder, load_rgb, eval_crop
    from remyx_nb.train import extract_features
    _, items = image_folder(folder)
    x = torch.from_numpy(np.stack([eval_crop(load_rgb(p), size) for p, _ in items]))
    return extract_features(net, x, batch_size=8).numpy(), np.array([i for _, i in items])


def main(argv=None):
    from sklearn.linear_model import LogisticRegression
    from remyx_nb.backbones import create_backbone
    from remyx_nb.core import draw_shots
    from remyx_nb.train import train
    from remyx_nb.evaluate import evaluate
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default="forklift_person:train:test,hymenoptera:train:val", help="NAME:TRAIN:TEST,... under --root")
    p.add_argument("--root", type=Path, default=SHARED)
    p.add_argument("--shots", default="all,10", help="comma-separated: all and/or k per class")
    p.add_argument("--seeds", default="0,1,2", help="seeds of the k-shot draws (all labels use seed 0)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    a = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    net, rows = create_backbone(), []
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}", flush=True)
    for spec in a.sets.split(","):
        name, tr, te = spec.split(":"); train_dir, test_dir = a.root/name/tr, a.root/name/te
        X, y = probe_features(train_dir, net); Xt, yt = probe_features(test_dir, net)
        for k in a.shots.split(","):
            shots = None if k == "all" else int(k)
            for seed in ([0] if shots is None else [int(s) for s in a.seeds.split(",")]):
                idx = draw_shots(y, shots, seed)
                probe = float((LogisticRegression(max_iter=3000, C=1.0).fit(X[idx], y[idx]).predict(Xt) == yt).mean())
                with tempfile.TemporaryDirectory() as tmp:
                    t = time.perf_counter()
                    m = train([train_dir], Path(tmp)/"m", shots=shots, seed=seed)
                    dt = time.perf_counter() - t
                    acc = evaluate(Path(tmp)/"m", test_dir, Path(tmp)/"e")["accuracy"]
                row = dict(set=name, shots=k, seed=seed, trainer=round(acc, 4), probe=round(probe, 4), diff=round(acc - probe, 4),
                           recipe=m["recipe"]["name"], time_to_model_s=round(dt, 1), phases_s=m["times"], selection=m["selection"])
                rows.append(row)
                print(f"{name:16s} shots={k:>3s} seed={seed}  trainer {acc:.4f}  probe {probe:.4f}  ({acc - probe:+.4f})  "
                      f"{row['recipe']:18s} {dt:5.1f} s", flush=True)
    print("\nmean over seeds (trainer vs probe on the same shots):")
    for name in dict.fromkeys(r["set"] for r in rows):
        for k in dict.fromkeys(r["shots"] for r in rows if r["set"] == name):
            rs = [r for r in rows if r["set"] == name and r["shots"] == k]
            print(f"  {name:16s} shots={k:>3s}  trainer {np.mean([r['trainer'] for r in rs]):.4f}  probe {np.mean([r['probe'] for r in rs]):.4f}"
                  f"  worst diff {min(r['diff'] for r in rs):+.4f}  time-to-model {np.mean([r['time_to_model_s'] for r in rs]):.1f} s")
    if a.json: a.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__": main()
