"""Detector recipes on a GPU, side by side in one run: the default (320 px, stem and blocks 0–7 frozen) against training
more of the trunk (blocks 4+) and the photos' native 416 px. Where do persons (medium-sized, thin) get lost?

    python benchmarks/gpu_detect_recipes.py TRAIN_COCO TEST_COCO [--variants default,blocks4,px416] [--json out.json]

Each variant is `detect.train.train_detector` with one `DetRecipe` field changed (same seed, GPU epochs), then
`detect.evaluate.evaluate_detector` on the test folder: mAP@0.5, mAP by object size, AP50 per class, train seconds.
"""
from __future__ import annotations
import argparse, json, sys, tempfile, time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VARIANTS = {"default": {}, "blocks4": {"first_trained": 4}, "px416": {"image_size": 416}}


def main(argv=None):
    from remyx_nb.detect.train import train_detector, DetRecipe
    from remyx_nb.detect.evaluate import evaluate_detector
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("train", type=Path); p.add_argument("test", type=Path)
    p.add_argument("--variants", default="default,blocks4,px416"); p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    tmp, rows = Path(tempfile.mkdtemp()), []
    for name in a.variants.split(","):
        t = time.perf_counter()
        m = train_detector([a.train], tmp/name, recipe=replace(DetRecipe(), **VARIANTS[name]), progress=False)
        ts = time.perf_counter() - t
        e = evaluate_detector(tmp/name, a.test, tmp/f"{name}_eval")
        row = {"variant": name, **VARIANTS[name], "device": m.get("device"), "train_s": round(ts, 1), "map50": round(e["map50"], 4),
               "map": round(e["map"], 4), "map_small": round(e["map_small"], 4), "map_medium": round(e["map_medium"], 4),
               "map_large": round(e["map_large"], 4), **{f"ap50_{c}": round(v["ap50"], 4) for c, v in e["per_class"].items()}}
        rows.append(row); print(json.dumps(row), flush=True)
    if a.json: a.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__": main()
