"""A detector's deployment threshold: the best-F1 point of held-out photos (what `train` writes as `deploy_thresh`)
against the fixed default (`blob.ARCHIVE_CONF`, 0.25), judged on photos the choice never saw, side by side in one run.

    .venv/bin/python benchmarks/bench_detect_threshold.py MODEL_DIR [--real ../shared/datasets/forklift_detect/test]

The model predicts every real photo once (`detect.evaluate.predict_coco`, mAP's decoding threshold). Then, for
`--repeats` random halvings of the photos: the threshold is chosen on one half (`best_f1` over pycocotools' IoU-0.5
matches) and scored on the other (`at_threshold`), both ways round. The table gives precision, recall, F1 and boxes per
photo for the chosen threshold, the fixed default, and the best threshold of the scored half itself (an oracle no
deployment has).
"""
from __future__ import annotations
import argparse, json, sys, warnings
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent/"shared"/"datasets"


def main(argv=None):
    from remyx_nb.detect.model import load_detector
    from remyx_nb.detect.evaluate import predict_coco, coco_eval
    from remyx_nb.compile.blob import ARCHIVE_CONF
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help="a folder `remyx-nb train --task detect` wrote")
    p.add_argument("--real", type=Path, default=SHARED/"forklift_detect"/"test", help="COCO folder of real photos")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    net, info = load_detector(a.model)
    recs, preds = predict_coco(net, info, a.real)
    gts = [(r.boxes, r.labels) for r in recs]; n = len(recs)
    ev = lambda idx, at=None: coco_eval([gts[i] for i in idx], [preds[i] for i in idx], info["labels"], at=at)
    rows = {"chosen on the other half": [], f"fixed {ARCHIVE_CONF:g}": [], "oracle (best on this half)": []}
    rng = np.random.default_rng(0)
    for _ in range(a.repeats):
        perm = rng.permutation(n); halves = (perm[:n//2], perm[n//2:])
        for fit, score in (halves, halves[::-1]):
            t = ev(fit)["best_f1"]["thresh"]
            for name, th in (("chosen on the other half", t), (f"fixed {ARCHIVE_CONF:g}", ARCHIVE_CONF)):
                m = ev(score, th)["at"]; rows[name].append({**m, "boxes_per_photo": m["kept"]/len(score), "truth_per_photo":
                                                            sum(len(gts[i][1]) for i in score)/len(score)})
            o = ev(score)["best_f1"]; m = ev(score, o["thresh"])["at"]
            rows["oracle (best on this half)"].append({**m, "boxes_per_photo": m["kept"]/len(score)})
    full = ev(np.arange(n))
    print(f"{a.model} on {n} photos of {a.real} ({full['n_boxes']} true boxes, {full['n_boxes']/n:.2f} per photo); "
          f"mAP@0.5 {full['map50']:.3f}; {a.repeats} random halvings, both ways round (means over {2*a.repeats} scored halves)")
    print(f"  {'threshold':28s} {'thresh':>7s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'boxes/photo':>11s}")
    summary = {}
    for name, rs in rows.items():
        s = {k: float(np.mean([r[k] for r in rs if r[k] is not None])) for k in ("thresh", "precision", "recall", "f1", "boxes_per_photo")}
        summary[name] = {**s, "f1_sd": float(np.std([r["f1"] for r in rs]))}
        print(f"  {name:28s} {s['thresh']:7.3f} {s['precision']:9.3f} {s['recall']:7.3f} {s['f1']:6.3f} {s['boxes_per_photo']:11.2f}")
    d = np.array([c["f1"] - f["f1"] for c, f in zip(rows["chosen on the other half"], rows[f"fixed {ARCHIVE_CONF:g}"])])
    print(f"  F1, chosen − fixed: {d.mean():+.3f} (sd over halves {d.std():.3f}, chosen better in {(d > 0).mean():.0%} of halves)")
    if a.json: a.json.write_text(json.dumps({"model": str(a.model), "real": str(a.real), "n_photos": n, "summary": summary,
                                             "f1_chosen_minus_fixed": d.tolist()}, indent=1))


if __name__ == "__main__":
    main()
