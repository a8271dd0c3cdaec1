"""Where a detector's errors are, per class, on real COCO photos: how well its best box fits each true box, its box
shape bias, and where its confident false positives sit (a diagnosis for the weak person class of forklift_detect).

    python benchmarks/bench_detect_errors.py MODEL_DIR TEST_COCO [--train TRAIN_COCO] [--json out.json]

For each class:
- per true box, the best IoU of any predicted box of that class (score ≥ the decoder's 0.05); the share with IoU ≥ 0.5;
- for those best boxes (IoU > 0.1), the median predicted/true width and height and the centre offset (in box sizes);
- the confident false positives (score above the median score of the class's boxes with IoU ≥ 0.5 to a true box),
  counted by where they sit: on a true box of the class but IoU 0.1–0.5 (a part, or a badly fitted box); a second
  box on an already-matched true box (a duplicate NMS kept); ≥ 70 % inside another class's true box; or elsewhere
  (background).

With `--train`, the shapes of each class's true boxes in the training and the test photos (height/width quartiles,
size in the model's input pixels), and the width bias of the test boxes split at the training set's median
height/width: a bias that sits on the boxes shaped unlike the training ones is the data, not the decoder.
"""
from __future__ import annotations
import argparse, json, sys
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def iou(a, B):
    x0, y0 = np.maximum(a[0], B[:, 0]), np.maximum(a[1], B[:, 1]); x1, y1 = np.minimum(a[2], B[:, 2]), np.minimum(a[3], B[:, 3])
    i = np.clip(x1 - x0, 0, None)*np.clip(y1 - y0, 0, None)
    return i/((a[2] - a[0])*(a[3] - a[1]) + (B[:, 2] - B[:, 0])*(B[:, 3] - B[:, 1]) - i)


def inside(a, B):
    "The largest share of box `a` that lies inside one of `B`."
    if not len(B): return 0.0
    x0, y0 = np.maximum(a[0], B[:, 0]), np.maximum(a[1], B[:, 1]); x1, y1 = np.minimum(a[2], B[:, 2]), np.minimum(a[3], B[:, 3])
    return float((np.clip(x1 - x0, 0, None)*np.clip(y1 - y0, 0, None)).max()/max((a[2] - a[0])*(a[3] - a[1]), 1e-9))


def diagnose(recs, preds, names):
    rows = []
    for c, n in enumerate(names):
        best, shape, tp_scores = [], [], []
        for r, p in zip(recs, preds):
            m = p["labels"] == c; pb = p["boxes"][m]
            for g in r.boxes[r.labels == c]:
                u = iou(g, pb) if len(pb) else np.zeros(1); k = int(np.argmax(u)); best.append(float(u[k]))
                if u[k] > 0.1:
                    gw, gh, w, h = g[2] - g[0], g[3] - g[1], pb[k, 2] - pb[k, 0], pb[k, 3] - pb[k, 1]
                    shape.append([w/gw, h/gh, ((pb[k, 0] + pb[k, 2]) - (g[0] + g[2]))/2/gw, ((pb[k, 1] + pb[k, 3]) - (g[1] + g[3]))/2/gh])
            g = r.boxes[r.labels == c]
            tp_scores += [s for b, s in zip(pb, p["scores"][m]) if len(g) and iou(b, g).max() >= 0.5]
        thr = float(np.median(tp_scores)) if tp_scores else 1.0
        fp = {"part_or_poor_fit": 0, "duplicate": 0, "inside_other_class": 0, "background": 0}
        for r, p in zip(recs, preds):
            g, go = r.boxes[r.labels == c], r.boxes[r.labels != c]; used = np.zeros(len(g), bool)
            m = (p["labels"] == c) & (p["scores"] > thr)
            for b in p["boxes"][m][np.argsort(-p["scores"][m], kind="stable")]:
                u = iou(b, g) if len(g) else np.zeros(0)
                if len(u) and u.max() >= 0.5:
                    k = int(np.argmax(u)); fp["duplicate"] += int(used[k]); used[k] = True
                elif len(u) and u.max() >= 0.1: fp["part_or_poor_fit"] += 1
                elif inside(b, go) >= 0.7: fp["inside_other_class"] += 1
                else: fp["background"] += 1
        best, shape = np.array(best), np.array(shape).reshape(-1, 4)
        rows.append({"class": n, "true_boxes": len(best), "best_iou_q25_q50_q75": np.percentile(best, [25, 50, 75]).round(3).tolist(),
                     "share_iou_ge_0.5": round(float((best >= 0.5).mean()), 3),
                     "width_ratio_median": round(float(np.median(shape[:, 0])), 3), "height_ratio_median": round(float(np.median(shape[:, 1])), 3),
                     "centre_offset_median": np.median(shape[:, 2:], 0).round(3).tolist(),
                     "confident_threshold": round(thr, 3), "confident_false_positives": fp})
    return rows


def shapes(recs, names, image_size):
    "Per class: the library's `box_shapes` (count, height/width quartiles) and the boxes' width and height quartiles in the model's input pixels."
    from remyx_nb.detect.data import box_shapes
    out = box_shapes(recs, names)
    for c, n in enumerate(names):
        wh = [((b[2] - b[0])*image_size/r.width, (b[3] - b[1])*image_size/r.height) for r in recs for b in r.boxes[r.labels == c]]
        q = lambda v: np.percentile(v, [25, 50, 75]).round(2).tolist() if len(v) else None
        out[n] |= {"width_px": q([w for w, _ in wh]), "height_px": q([h for _, h in wh])}
    return out


def bias_by_shape(recs, preds, names, split_hw):
    "Median predicted/true width of each class's best-fitting boxes (IoU > 0.1), for true boxes below and above `split_hw[class]`."
    out = {}
    for c, n in enumerate(names):
        lo, hi = [], []
        for r, p in zip(recs, preds):
            pb = p["boxes"][p["labels"] == c]
            for g in r.boxes[r.labels == c]:
                if not len(pb): continue
                u = iou(g, pb); k = int(np.argmax(u))
                if u[k] <= 0.1: continue
                gw, gh = g[2] - g[0], g[3] - g[1]
                (hi if gh/max(gw, 1e-6) > split_hw[n] else lo).append((pb[k, 2] - pb[k, 0])/gw)
        med = lambda v: round(float(np.median(v)), 3) if v else None
        out[n] = {"split_height_over_width": split_hw[n], "shaped_like_training": {"boxes": len(lo), "width_ratio_median": med(lo)},
                  "taller_than_training_median": {"boxes": len(hi), "width_ratio_median": med(hi)}}
    return out


def main(argv=None):
    from remyx_nb.detect.model import load_detector
    from remyx_nb.detect.evaluate import predict_coco
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path); p.add_argument("test", type=Path); p.add_argument("--json", type=Path, default=None)
    p.add_argument("--train", type=Path, default=None, help="the training COCO folder: compare its box shapes with the test photos'")
    a = p.parse_args(argv)
    net, info = load_detector(a.model)
    recs, preds = predict_coco(net, info, a.test)
    rows = diagnose(recs, preds, info["labels"])
    for r in rows: print(json.dumps(r))
    out = rows
    if a.train:
        from remyx_nb.detect.data import read_coco
        S = info["image_size"]; tr = shapes(read_coco(a.train)[1], info["labels"], S); te = shapes(recs, info["labels"], S)
        split = {n: tr[n]["height_over_width"][1] for n in info["labels"] if tr[n]["boxes"]}
        bias = bias_by_shape(recs, preds, [n for n in info["labels"] if n in split], split)
        for n in info["labels"]:
            print(json.dumps({"class": n, "train": tr[n], "test": te[n], "width_bias": bias.get(n)}))
        out = {"errors": rows, "box_shapes": {"train": tr, "test": te}, "width_bias_by_shape": bias}
    if a.json: a.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__": main()
