"""Where the image lake's accuracy stops: the same harvested images trained on with their pseudo-labels and with their
true labels, every training recipe, on the real test photos, side by side in one run (issue 12's analysis).

    .venv/bin/remyx-nb run nbs/experiments/lake_to_real.ipynb -p lake_limit 0 -p shots "[5, 10]" -p seeds "[0, 1, 2]" -p generator none
    .venv/bin/python benchmarks/bench_lake_ceiling.py papermill_runs/<that run> --json out.json

It reads the run's `shots/k{K}_s{S}/` and `harvest/k{K}_s{S}/` folders (the lake paths in `metadata.jsonl`, the review
queue in `review/manifest.jsonl`) and the real training split the lake was made from (its class folders are the truth the
harvest never saw). For every recipe of `train.candidate_recipes()` it fits the recipe's head (`train.fit_head`, the head
`train` exports) on the seeds + harvested images with
  - pseudo: the labels the harvest gave (what `train` sees),
  - true: the same images with their true labels (a perfect labeller of what the harvest chose),
  - all true: every photo of the training split with its label (seed 0 only),
and prints test accuracy, plus the harvest's precision and the review queue's precision had its predictions been taken.
Features come from the torch backbone exactly as `train` computes them, once per photo and framing.
"""
from __future__ import annotations
import argparse, json, sys, warnings
from pathlib import Path
import numpy as np, torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent/"shared"/"datasets"


class Features:
    "Multi-depth features of photos (resolved paths) per framing, computed once, as `train.feature_bank` computes them."
    def __init__(self, size=224):
        from remyx_nb.backbones import create_backbone
        from remyx_nb.train import TAPS
        self.net, self.size, self.cache = create_backbone("efficientnet_lite0", True, TAPS).eval(), size, {}

    def __call__(self, paths, framing):
        from remyx_nb.data import decode_images, cache_side
        from remyx_nb.train import extract_features
        keys = [str(Path(p).resolve()) for p in paths]
        miss = [k for k in dict.fromkeys(keys) if (k, framing) not in self.cache]
        if miss:
            side = cache_side(self.size); o = (side - self.size)//2
            images, bad, views = decode_images(miss, side, self.size, ("crop", "full"))
            if bad: raise SystemExit(f"{len(bad)} photos could not be decoded, e.g. {miss[bad[0]]}.")
            for f, v in (("crop", images[:, o:o + self.size, o:o + self.size]), ("full", views["full"])):
                for k, x in zip(miss, extract_features(self.net, v, batch_size=8).numpy()): self.cache[(k, f)] = x
        return np.stack([self.cache[(k, framing)] for k in keys])

    def bank(self, paths): return {(f, False): self(paths, f) for f in ("crop", "full")}


def main(argv=None):
    from remyx_nb.core import image_folder
    from remyx_nb.train import candidate_recipes, fit_head, recipe_features
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a lake_to_real run folder (with shots/, harvest/)")
    p.add_argument("--real", type=Path, default=SHARED/"forklift_person", help="the run's real_dir")
    p.add_argument("--train-split", default="train"); p.add_argument("--test-split", default="test")
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    a = p.parse_args(argv)
    warnings.filterwarnings("ignore"); torch.set_num_threads(2)
    if not (a.run/"harvest").is_dir(): raise SystemExit(f"{a.run} has no harvest/ folder; give a lake_to_real run folder.")
    classes, items = image_folder(a.real/a.train_split)
    truth = {str(Path(q).resolve()): classes[i] for q, i in items}
    _, titems = image_folder(a.real/a.test_split)
    F = Features(); T = F.bank([q for q, _ in titems]); ty = np.array([i for _, i in titems])
    recipes = candidate_recipes()

    def accuracy(paths, y, r):
        W, b = fit_head(F.bank(paths), r, np.array(y), np.ones(len(y), np.float32), len(classes))
        return float(((recipe_features(T, r) @ W.T + b).argmax(1) == ty).mean())

    rows, quality = [], []
    for hv in sorted((a.run/"harvest").iterdir()):
        tag = hv.name; k, s = (int(x[1:]) for x in tag.split("_"))
        _, sitems = image_folder(a.run/"shots"/tag)
        sp, sy = [str(q) for q, _ in sitems], [i for _, i in sitems]
        meta = [json.loads(l) for l in (hv/"metadata.jsonl").read_text().splitlines() if l.strip()]
        hp = [str(Path(m["lake_path"]).resolve()) for m in meta]; hy = [classes.index(m["label"]) for m in meta]
        rev = [json.loads(l) for l in (hv/"review"/"manifest.jsonl").read_text().splitlines() if l.strip()]
        rp = [str(Path(m["source"]).resolve()) for m in rev]
        real_h = [(q, y) for q, y in zip(hp, hy) if truth.get(q)]
        quality.append(dict(k=k, seed=s, harvested=len(hp), wrong=sum(truth[q] != classes[y] for q, y in real_h),
                            precision=float(np.mean([truth[q] == classes[y] for q, y in real_h])) if real_h else float("nan"),
                            review=len(rp), review_precision=float(np.mean([truth.get(q) == m["predicted"] for q, m in zip(rp, rev)]))
                            if rp else float("nan")))
        arms = {"pseudo": (sp + hp, sy + hy), "true": (sp + [q for q, _ in real_h], sy + [classes.index(truth[q]) for q, _ in real_h])}
        if s == 0 and not any(r["arm"] == "all true" for r in rows):
            arms["all true"] = (list(truth), [classes.index(c) for c in truth.values()])
        for r in recipes:
            for arm, (P, Y) in arms.items():
                rows.append(dict(k="all" if arm == "all true" else k, seed=s, recipe=r.name, arm=arm, n=len(P), accuracy=accuracy(P, Y, r)))
        q = quality[-1]
        print(f"{tag}: harvested {q['harvested']} (precision {q['precision']:.3f}, {q['wrong']} wrong), review {q['review']} "
              f"(its predictions {q['review_precision']:.3f} right)", flush=True)

    import pandas as pd
    df = pd.DataFrame(rows)
    table = df.groupby(["k", "recipe", "arm"], sort=False)["accuracy"].agg(["mean", "count"]).unstack("arm")
    print(f"\nTest accuracy on {len(ty)} real photos of {a.real.name}/{a.test_split}, mean over seeds (count in brackets):")
    for (k, rec), r in table.iterrows():
        cells = "  ".join(f"{arm} {r[('mean', arm)]:.4f} [{int(r[('count', arm)])}]" for arm in ("pseudo", "true", "all true")
                          if ("mean", arm) in r and not np.isnan(r[("mean", arm)]))
        print(f"  k={k!s:>3}  {rec:18s}  {cells}")
    if a.json: a.json.write_text(json.dumps({"run": str(a.run), "quality": quality, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
