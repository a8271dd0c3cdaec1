"""Detection benchmark: train the FCOS-style detector on forklift_detect/train (885 images) on this CPU within a time
budget, evaluate COCO mAP on forklift_detect/test (126 upright photos). Writes benchmarks/results/cpu_bench_detect.{json,txt}.

    PYTHONPATH=. python benchmarks/bench_detect.py [--budget 1500] [--out /tmp/bench_detect]
"""
import argparse, json, os, platform, sys, time
from pathlib import Path
import torch
from remyx_nb.detect.train import train_detector, DetRecipe
from remyx_nb.detect.evaluate import evaluate_detector

ROOT = Path(__file__).resolve().parent
DATA = Path(os.environ.get("FORKLIFT_DETECT", ROOT.parent.parent/"shared/datasets/forklift_detect"))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=1650, help="seconds for the whole training run (decode, cache views, train)")
    p.add_argument("--out", default=f"/tmp/bench_detect_{int(time.time())}")
    p.add_argument("--val-frac", type=float, default=0.0)
    p.add_argument("--first-trained", type=int, default=DetRecipe.first_trained)
    p.add_argument("--cache-share", type=float, default=DetRecipe.cache_share)
    p.add_argument("--image-size", type=int, default=DetRecipe.image_size)
    p.add_argument("--no-write", action="store_true", help="do not write benchmarks/results (pilot runs)")
    a = p.parse_args(argv)
    if not (DATA/"train/annotations.coco.json").exists(): sys.exit(f"forklift_detect not found at {DATA}; set FORKLIFT_DETECT.")
    out = Path(a.out); t0 = time.time()
    r = DetRecipe(first_trained=a.first_trained, cache_share=a.cache_share, image_size=a.image_size)
    m = train_detector([DATA/"train"], out/"model", r, budget=a.budget, val_frac=a.val_frac, seed=0)
    t_train = time.time() - t0
    e = evaluate_detector(out/"model", DATA/"test", out/"eval")
    res = {"data": str(DATA), "train_images": m["data"]["n_train"], "test_images": e["n_images"], "test_boxes": e["n_boxes"],
           "map50": round(e["map50"], 4), "map": round(e["map"], 4), "map75": round(e["map75"], 4),
           "ap50_per_class": {k: round(v["ap50"], 4) for k, v in e["per_class"].items()},
           "ap_per_class": {k: round(v["ap"], 4) for k, v in e["per_class"].items()},
           "train_wall_s": round(t_train, 1), "eval_wall_s": round(time.time() - t0 - t_train, 1), "budget_s": a.budget,
           "recipe": m["recipe"], "n_views": m["n_views"], "steps": m["steps"], "passes": m["passes"], "times": m["times"],
           "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
                       "load_avg_at_end": os.getloadavg()}, "out": str(out)}
    txt = (f"forklift_detect: train {res['train_images']} images on {os.cpu_count()} CPU cores in {t_train/60:.1f} min "
           f"({m['n_views']} views, {m['steps']} steps); test {e['n_images']} photos / {e['n_boxes']} boxes: "
           f"mAP@0.5 {e['map50']:.3f}, mAP@[.5:.95] {e['map']:.3f}, AP50 " + ", ".join(f"{k} {v:.3f}" for k, v in res["ap50_per_class"].items()))
    print(txt)
    if not a.no_write:
        (ROOT/"results").mkdir(exist_ok=True)
        (ROOT/"results/cpu_bench_detect.json").write_text(json.dumps(res, indent=2) + "\n")
        (ROOT/"results/cpu_bench_detect.txt").write_text(txt + "\n")

if __name__ == "__main__": main()
