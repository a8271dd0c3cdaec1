"""Lake stage at scale: index throughput (local vs Ray, same photos, same run), harvest time (first and later harvests of
one index) and vector-search latency (10k and 1M).

    python benchmarks/bench_lake.py [--images DIR] [--n 600] [--ray-actors 2] [--million 1000000] [--seeds DIR] [--out results/cpu_bench_lake.json]

Index: `build_index` over the same N real photos into fresh folders — torch eager embedding of the same batches as the
naive reference, the OpenVINO `Embedder` locally, then on Ray Data (its figure includes starting the actor pool).
Search: `vector_index` over synthetic unit vectors of the backbone's width (1280), drawn around N/500 random centres
(images come in groups) with noise; queries are perturbed copies of indexed vectors. Exact below `EXACT_LIMIT`, IVF
above: query latency for one query and per query in a batch of 100, the memory of the vectors, the peak RSS, and the
IVF's recall@10 against exact search.
Harvest: `harvest` from 10 seeds per class of `--seeds` (default `--images`/train) on the 4-thread index, twice. The first
reads every candidate's whole frame for the cross-view check and keeps those views in the index folder; the second
(another seed draw, as a user harvesting again would) reuses them. Both harvests' seconds and the ratio are printed.
The machine may be shared: compare rows of one run only.
"""
import argparse, json, os, resource, sys, tempfile, time
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

def rss_gb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/2**20

def bench_index(paths, ray_actors):
    import torch
    from remyx_nb.lake.index import build_index, load_view
    from remyx_nb.backbones import create_backbone, to_tensor
    rows, tmp = [], Path(tempfile.mkdtemp())
    net = create_backbone().eval(); torch.set_num_threads(os.cpu_count())
    t0 = time.perf_counter()
    with torch.inference_mode():
        for b in range(0, len(paths), 64): net(to_tensor([load_view(p)[2] for p in paths[b:b + 64]]))
    rows.append(("torch eager, decode in the main thread", len(paths)/(time.perf_counter() - t0)))
    for workers in (1, 4):
        m = build_index(paths, tmp/f"local{workers}", workers=workers, progress=False)
        rows.append((f"index, OpenVINO, {workers} decode thread(s)", m["runs"][-1]["images_per_s"]))
    if ray_actors:
        m = build_index(paths, tmp/"ray", ray=ray_actors, workers=2, progress=False)
        rows.append((f"index --ray {ray_actors} (incl. actor start)", m["runs"][-1]["images_per_s"]))
    return rows, tmp/"local4"

def bench_harvest(index_dir, seeds):
    from remyx_nb.lake.harvest import harvest
    out, times = Path(tempfile.mkdtemp()), []
    for s in (0, 1):
        t0 = time.perf_counter(); h = harvest(index_dir, seeds, out/f"h{s}", shots=10, seed=s)
        times.append((f"harvest {s + 1} (seed draw {s}, {h['n_candidates']} candidates)", time.perf_counter() - t0))
    return times

def bench_search(n, d=1280, queries=100):
    import faiss
    from remyx_nb.lake.index import vector_index, EXACT_LIMIT
    from remyx_nb.reference import unit_rows as _unit
    rng = np.random.default_rng(0)
    centres = _unit(rng.standard_normal((max(10, n//500), d), np.float32))  # images come in groups (scenes, objects)
    X = np.empty((n, d), np.float32)
    for b in range(0, n, 100_000):
        m = min(100_000, n - b)
        X[b:b + m] = _unit(centres[rng.integers(len(centres), size=m)] + 0.05*rng.standard_normal((m, d), np.float32))
    Q = _unit(X[rng.choice(n, queries, replace=False)] + 0.02*rng.standard_normal((queries, d), np.float32))
    out = {"n": n, "dim": d, "vectors_gb": round(X.nbytes/2**30, 2)}
    for kind in (["exact"] + (["ivf"] if n > EXACT_LIMIT else [])):
        t0 = time.perf_counter(); ix = vector_index(X) if kind == "ivf" or n <= EXACT_LIMIT else _exact(X)
        out[f"{kind}_build_s"] = round(time.perf_counter() - t0, 2)
        ix.search(Q[:1], 10); t0 = time.perf_counter()
        for q in Q[:10]: ix.search(q[None], 10)
        out[f"{kind}_ms_per_query"] = round((time.perf_counter() - t0)/10*1000, 2)
        t0 = time.perf_counter(); _, I = ix.search(Q, 10)
        out[f"{kind}_ms_per_query_batch100"] = round((time.perf_counter() - t0)/queries*1000, 3)
        out[f"{kind}_top10"] = I
        del ix
    if "ivf_top10" in out:
        out["ivf_recall@10"] = round(float(np.mean([len(set(a) & set(b))/10 for a, b in zip(out["exact_top10"], out["ivf_top10"])])), 3)
    out = {k: v for k, v in out.items() if not k.endswith("top10")}
    out["max_rss_gb"] = round(rss_gb(), 2)
    return out

def _exact(X):
    import faiss
    ix = faiss.IndexFlatIP(X.shape[1]); ix.add(X); return ix

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", default=str(ROOT.parent/"shared/datasets/forklift_person"), help="folder of photos")
    p.add_argument("--n", type=int, default=600, help="photos to index per configuration")
    p.add_argument("--ray-actors", type=int, default=2, help="Ray actors (0: skip Ray)")
    p.add_argument("--million", type=int, default=1_000_000, help="size of the large search benchmark (0: skip)")
    p.add_argument("--seeds", default=None, help="labelled <class>/ folder for the harvest figures (default IMAGES/train; none: skip)")
    p.add_argument("--out", default=None, help="also write the figures to this JSON file")
    a = p.parse_args()
    from remyx_nb.deploy.predict import iter_paths
    paths = list(iter_paths(a.images))[:a.n]
    if not paths: sys.exit(f"no images under {a.images}")
    for q in paths: Path(q).read_bytes()  # warm the page cache
    rows, index_dir = bench_index(paths, a.ray_actors)
    print(f"index throughput, {len(paths)} photos, {os.cpu_count()} CPU cores:")
    for name, v in rows: print(f"  {name:45s} {v:7.1f} img/s   ×{v/rows[0][1]:.1f}")
    seeds = Path(a.seeds or Path(a.images)/"train"); harvests = []
    if a.seeds != "none" and seeds.is_dir():
        harvests = bench_harvest(index_dir, seeds)
        print(f"harvest on that index, 10 seeds per class of {seeds}:")
        for name, v in harvests: print(f"  {name:45s} {v:7.1f} s     ×{harvests[0][1]/v:.1f}")
    search = [bench_search(10_000)] + ([bench_search(a.million)] if a.million else [])
    print("search (k=10, 1280-d unit vectors around N/500 centres):")
    for s in search: print("  " + json.dumps(s))
    if a.out: Path(a.out).write_text(json.dumps({"index": rows, "harvest": harvests, "search": search}, indent=2) + "\n")

if __name__ == "__main__": main()
