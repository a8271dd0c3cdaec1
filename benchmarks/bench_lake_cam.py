"""Are the image lake's wrong pseudo-labels pictures of both classes? A class-activation map of the harvest's labeller
over the backbone's 7×7 grid, scored against the labels the harvest never saw (issue 12's analysis; a negative result).

    .venv/bin/remyx-nb run nbs/experiments/lake_to_real.ipynb -p lake_limit 0 -p shots "[5, 10]" -p seeds "[0, 1, 2]" -p generator none
    .venv/bin/python benchmarks/bench_lake_cam.py papermill_runs/<that run> [--k 10]

For each harvest `k{K}_s{S}` of the run it fits the labeller's logistic regression (standardised pooled features, C = 1)
on seeds + harvest with the harvest's labels, applies it to every grid cell of each harvested image (the cells' logits
average to the image's logit), and scores each image by three "mixed content" measures: the share of cells voting for
the other class, the other class's share of the absolute logit mass, and the most opposed cell. It prints the ROC AUC of
each score for telling the wrong pseudo-labels from the right ones, per view (crop, whole frame), and how many of the
wrong ones the top 10 % of each score holds. AUC 0.5 is chance; above 0.5 the score could route them to review.
Two classes only (the labeller's single logit).
"""
from __future__ import annotations
import argparse, json, sys, warnings
from pathlib import Path
import numpy as np, torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent/"shared"/"datasets"


def grid_maps(net, paths, framing, batch=32):
    "N×1280×7×7 final feature maps (before pooling) of `framing` views."
    from remyx_nb.backbones import to_tensor
    from remyx_nb.lake.index import load_view
    m, out = net.net.m, []
    for b in range(0, len(paths), batch):
        v = np.stack([load_view(p, 224, framing)[2] for p in paths[b:b + batch]])
        with torch.no_grad():
            x = m._swish(m._bn0(m._conv_stem(to_tensor(v))))
            for blk in m._blocks: x = blk(x)
            out.append(m._swish(m._bn1(m._conv_head(x))).numpy())
    return np.concatenate(out)


def main(argv=None):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from remyx_nb.core import image_folder
    from remyx_nb.backbones import create_backbone
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a lake_to_real run folder (with shots/, harvest/)")
    p.add_argument("--real", type=Path, default=SHARED/"forklift_person", help="the run's real_dir")
    p.add_argument("--train-split", default="train"); p.add_argument("--k", type=int, default=10)
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    a = p.parse_args(argv)
    warnings.filterwarnings("ignore"); torch.set_num_threads(2)
    classes, items = image_folder(a.real/a.train_split)
    if len(classes) != 2: raise SystemExit(f"{a.real/a.train_split} has {len(classes)} classes; this analysis takes two.")
    truth = {str(Path(q).resolve()): classes[i] for q, i in items}
    net = create_backbone("efficientnet_lite0", True, ()).eval()
    rows = []
    for hv in sorted((a.run/"harvest").glob(f"k{a.k}_s*")):
        tag = hv.name
        meta = [json.loads(l) for l in (hv/"metadata.jsonl").read_text().splitlines() if l.strip()]
        hp = [str(Path(d["lake_path"]).resolve()) for d in meta]; hy = np.array([classes.index(d["label"]) for d in meta])
        _, sitems = image_folder(a.run/"shots"/tag); sp = [str(q) for q, _ in sitems]; sy = np.array([i for _, i in sitems])
        wrong = np.array([truth.get(q) is not None and truth[q] != classes[y] for q, y in zip(hp, hy)])
        for framing in ("crop", "full"):
            S, H = grid_maps(net, sp, framing), grid_maps(net, hp, framing)
            Hp = H.mean((2, 3)); mu, sd = Hp.mean(0), Hp.std(0) + 1e-6
            clf = LogisticRegression(C=1.0, max_iter=3000).fit((np.vstack([S.mean((2, 3)), Hp]) - mu)/sd, np.concatenate([sy, hy]))
            cell = np.einsum("nchw,c->nhw", (H - mu[:, None, None])/sd[:, None, None], clf.coef_[0]) + clf.intercept_[0]
            s = cell*np.where(hy == 1, 1.0, -1.0)[:, None, None]  # > 0: the cell agrees with the image's label
            scores = {"share of cells voting other": (s < 0).mean((1, 2)),
                      "other class's logit mass": np.clip(-s, 0, None).sum((1, 2))/np.abs(s).sum((1, 2)),
                      "most opposed cell": -s.reshape(len(s), -1).min(1)}
            for name, sc in scores.items():
                r = {"harvest": tag, "view": framing, "score": name, "auc": round(float(roc_auc_score(wrong, sc)), 3),
                     "wrong": int(wrong.sum()), "harvested": len(wrong),
                     "wrong_in_top_10pct": int(wrong[np.argsort(-sc)[:len(sc)//10]].sum())}
                rows.append(r)
                print(f"{tag} {framing:4s} {name:28s} AUC {r['auc']:.3f}  wrong {r['wrong']}/{r['harvested']}  "
                      f"in the top 10 %: {r['wrong_in_top_10pct']}", flush=True)
    if not rows: raise SystemExit(f"{a.run}/harvest has no k{a.k}_s* harvest.")
    if a.json: a.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__": main()
