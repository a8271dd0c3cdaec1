"""Images/s of batch prediction: local (batch size, decode threads) and Ray Data, on the same images, same machine.

    python benchmarks/bench_predict.py COMPILED_DIR [--images DIR] [--n 600] [--ray-actors 2]

Each configuration predicts the same N real photos into a fresh JSONL (decode + eval crop + OpenVINO + write) and
prints images/s and its ratio to the first row. Ray's figure includes its start-up of the actor pool (model loads).
The machine may be shared: rerun, and compare rows of one run only.
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path
from remyx_nb.deploy.predict import Predictor, predict_paths, predict_ray, iter_paths

ROOT = Path(__file__).resolve().parents[1]

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("compiled", help="folder written by `remyx-nb compile`")
    p.add_argument("--images", default=str(ROOT.parent/"shared/datasets/forklift_person"), help="folder of photos")
    p.add_argument("--n", type=int, default=600, help="photos per configuration")
    p.add_argument("--ray-actors", type=int, default=2, help="Ray actors (0: skip Ray)")
    a = p.parse_args()
    paths = list(iter_paths(a.images))
    paths = (paths*(a.n//max(1, len(paths)) + 1))[:a.n] if paths else []
    if not paths: sys.exit(f"no images under {a.images}")
    # repeated files would be skipped as already predicted: give each repeat its own path
    tmp = Path(tempfile.mkdtemp())
    uniq = []
    for i, q in enumerate(paths):
        link = tmp/"imgs"/f"{i:06d}{Path(q).suffix}"; link.parent.mkdir(exist_ok=True); os.symlink(q, link); uniq.append(str(link))
    for q in uniq: Path(q).read_bytes()  # warm the page cache so no configuration pays for cold reads
    pred = Predictor(a.compiled)
    res = []
    for bs, workers in [(1, 1), (32, 1), (32, 2), (64, 2)]:
        s = predict_paths(pred, uniq, tmp/f"local_{bs}_{workers}.jsonl", batch_size=bs, workers=workers, progress=False)
        res.append((f"local  batch {bs:3d}, {workers} decode thread(s)", s["images_per_s"]))
    if a.ray_actors:
        try:
            import ray
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
            t0 = time.perf_counter(); rows = predict_ray(a.compiled, uniq, actors=a.ray_actors, batch_size=32, workers=1)
            res.append((f"ray    {a.ray_actors} actors, batch 32, 1 decode thread each", round(len(rows)/(time.perf_counter() - t0), 2)))
            ray.shutdown()
        except ImportError: res.append(("ray    (not installed: pip install 'remyx_nb[ray]')", None))
    base = res[0][1]
    print(f"{len(uniq)} photos from {a.images}, {os.cpu_count()} CPUs, model {a.compiled}")
    for name, ips in res:
        print(f"  {name:55s} {ips if ips is not None else float('nan'):8.1f} img/s   x{(ips or 0)/base:5.2f}")
    print(json.dumps({name.split()[0] + " " + " ".join(name.split()[1:]): ips for name, ips in res}))

if __name__ == "__main__": main()
