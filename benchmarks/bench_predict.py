"""Images/s of batch prediction, measured in ONE run on the same photos and the same machine:

- decode only: the prediction path's decode (`decode_view` on `--workers` threads, batches decoded ahead), no model;
- runtime only: the project's own (`Predictor.stream`: fixed batches, asynchronous requests) on decoded views, and
  OpenVINO's `benchmark_app -hint throughput` on the same IR and batch;
- end to end: `remyx-nb predict IMAGE_DIR -o OUT.jsonl` in a fresh process (its own images/s: decode, runtime, rows);
- Ray Data (`predict_ray`) with 1 and 2 actors, start-up of the actor pool included;
- batch-1 FP16 latency: compile's `benchmark` (what `benchmark.json` holds) against `benchmark_app -hint none
  -nstreams 1 -nthreads T` on the same IR.

    python benchmarks/bench_predict.py COMPILED_DIR [--images DIR] [--n 2000] [--rounds 3] [--ray-actors 1,2]

Decode, runtime and end to end take turns in each of `--rounds` rounds and the medians are reported, so a burst of
other work on a shared machine hits them alike. On a machine where decode and runtime share the same cores, end to
end can only approach 1/(1/decode + 1/runtime) (the "shared-core bound" printed below), not min(decode, runtime).
Results go to benchmarks/results/cpu_bench_predict.{json,txt}.
"""
import argparse, json, os, platform, re, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import numpy as np
from remyx_nb.deploy.predict import Predictor, predict_ray, iter_paths, decode_ahead, decode_view
from remyx_nb.compile import benchmark, ov_runner

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def _bench_app(args, seconds):
    "Run benchmark_app; returns its stdout (raises with its tail on failure)."
    exe = shutil.which("benchmark_app", path=str(BIN)) or shutil.which("benchmark_app")
    if exe is None: raise RuntimeError("benchmark_app not found (it ships with the openvino wheel)")
    r = subprocess.run([exe, *args, "-t", str(seconds)], capture_output=True, text=True, timeout=seconds + 120)
    if r.returncode: raise RuntimeError(f"benchmark_app failed: {(r.stdout + r.stderr)[-800:]}")
    return r.stdout

def _grab(pattern, text):
    m = re.search(pattern, text); return float(m.group(1)) if m else None

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("compiled", help="folder written by `remyx-nb compile`")
    p.add_argument("--images", default=str(ROOT.parent/"shared/datasets/forklift_person"), help="folder of photos")
    p.add_argument("--n", type=int, default=2000, help="paths (the photos repeated)")
    p.add_argument("--batch-size", type=int, default=32); p.add_argument("--workers", type=int, default=2, help="decode threads of decode-only")
    p.add_argument("--e2e-workers", default="2,1", help="decode threads of the end-to-end runs (`remyx-nb predict --workers`)")
    p.add_argument("--threads", type=int, default=2, help="threads of the batch-1 latency comparison")
    p.add_argument("--rounds", type=int, default=3, help="rounds of decode / runtime / end to end")
    p.add_argument("--ray-actors", default="1,2", help="comma-separated actor counts for Ray Data ('' to skip)")
    p.add_argument("--bench-app-seconds", type=int, default=10)
    p.add_argument("--out", default=str(ROOT/"benchmarks/results/cpu_bench_predict"), help="results stem (.json, .txt)")
    a = p.parse_args()
    photos = list(iter_paths(a.images))
    if not photos: sys.exit(f"no images under {a.images}")
    paths = (photos*(a.n//len(photos) + 1))[:a.n]
    # a repeated path would be skipped as already predicted: give each repeat its own name
    tmp = Path(tempfile.mkdtemp()); (tmp/"imgs").mkdir()
    uniq = []
    for i, q in enumerate(paths):
        link = tmp/"imgs"/f"{i:06d}{Path(q).suffix}"; os.symlink(q, link); uniq.append(str(link))
    for q in uniq: Path(q).read_bytes()  # warm the page cache: no measurement pays for cold reads
    pred = Predictor(a.compiled); B, size, fr = a.batch_size, pred.size, pred.framing
    batches = lambda: (uniq[i:i + B] for i in range(0, len(uniq), B))
    with ThreadPoolExecutor(a.workers) as pool: views = np.stack([decode_view(q, size, fr) for q in photos])
    X = views[np.arange(a.n) % len(views)]
    list(pred.stream([(0, X[:B])], B))  # compile the fixed-batch model outside the timing
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}  # this checkout's code
    e2e_workers = [int(v) for v in a.e2e_workers.split(",")]
    rounds = []
    for r in range(a.rounds):
        with ThreadPoolExecutor(a.workers) as pool:
            t0 = time.perf_counter(); n = sum(len(v) for _, v in decode_ahead(batches(), lambda q: decode_view(q, size, fr), pool))
            dec = n/(time.perf_counter() - t0)
        t0 = time.perf_counter(); n = sum(len(l) for _, l, _ in pred.stream(((i, X[i:i + B]) for i in range(0, a.n, B)), B))
        rt = n/(time.perf_counter() - t0)
        rounds.append({"decode_ips": round(dec, 1), "runtime_ips": round(rt, 1)})
        for w in e2e_workers:
            out = tmp/f"e2e_{r}_{w}.jsonl"; t0 = time.perf_counter()
            res = subprocess.run([str(BIN/"remyx-nb"), "predict", a.compiled, str(tmp/"imgs"), "-o", str(out), "--batch-size", str(B),
                                  "--workers", str(w), "--quiet"], capture_output=True, text=True, env=env)
            if res.returncode: sys.exit(f"remyx-nb predict failed: {res.stderr[-800:]}")
            s = json.loads(res.stdout.strip().splitlines()[-1]); assert s["new"] == a.n, s
            rounds[-1][f"e2e_ips_workers{w}"] = s["images_per_s"]; rounds[-1][f"e2e_wall_s_workers{w}"] = round(time.perf_counter() - t0, 2)
        print(f"round {r}: {rounds[-1]}", flush=True)
    med = {k: float(np.median([x[k] for x in rounds])) for k in rounds[0] if k.endswith("ips") or "ips_" in k}
    best = max(e2e_workers, key=lambda w: med[f"e2e_ips_workers{w}"]); med["e2e_ips"] = med[f"e2e_ips_workers{best}"]
    bound = "decode" if med["decode_ips"] < med["runtime_ips"] else "runtime"
    shared = 1/(1/med["decode_ips"] + 1/med["runtime_ips"])
    xml = str(Path(a.compiled)/"openvino/model_fp16.xml")
    app_tp = _grab(r"Throughput:\s+([\d.]+)", _bench_app(["-m", xml, "-d", "CPU", "-hint", "throughput", "-shape", f"[{B},3,{size},{size}]"],
                                                          a.bench_app_seconds))
    # batch-1 FP16 latency: compile's method (benchmark.json) and benchmark_app, back to back
    x1 = X[:1].transpose(0, 3, 1, 2).copy()
    ours = benchmark({"openvino_fp16": ov_runner(xml, threads=a.threads, batch=1)}, x1)["openvino_fp16"]["latency_ms_median"]
    app_lat = _grab(r"Median:\s+([\d.]+) ms", _bench_app(["-m", xml, "-d", "CPU", "-hint", "none", "-nstreams", "1", "-nthreads",
                                                          str(a.threads), "-shape", f"[1,3,{size},{size}]"], a.bench_app_seconds))
    bj = Path(a.compiled)/"benchmark.json"
    recorded = json.loads(bj.read_text())["runtimes"]["openvino_fp16"]["latency_ms_median"] if bj.exists() else None
    ray_res = {}
    actors = [int(v) for v in a.ray_actors.split(",") if v.strip()]
    if actors:
        try:
            import ray
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
            for k in actors:
                t0 = time.perf_counter(); rows = predict_ray(a.compiled, uniq, actors=k, batch_size=B, workers=1)
                ray_res[f"{k} actor(s)"] = round(len(rows)/(time.perf_counter() - t0), 1)
            ray.shutdown()
        except ImportError: ray_res["not installed"] = None
    summary = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "load_avg_at_end": [round(v, 2) for v in os.getloadavg()]},
        "images": a.images, "n": a.n, "batch_size": B, "decode_workers": a.workers, "e2e_best_workers": best, "rounds": rounds, "median": med,
        "benchmark_app_throughput_ips": app_tp, "bound": bound, "min_decode_runtime_ips": min(med["decode_ips"], med["runtime_ips"]),
        "e2e_over_min": round(med["e2e_ips"]/min(med["decode_ips"], med["runtime_ips"]), 3),
        "shared_core_bound_ips": round(shared, 1), "e2e_over_shared_core_bound": round(med["e2e_ips"]/shared, 3),
        "latency_b1_fp16_ms": {"compile_benchmark_now": round(ours, 3), "benchmark_app_median": app_lat,
                               "benchmark_json_recorded": recorded, "threads": a.threads,
                               "ratio_now": round(ours/app_lat, 3) if app_lat else None,
                               "ratio_recorded": round(recorded/app_lat, 3) if (app_lat and recorded) else None},
        "ray_ips": ray_res,
        "commands": {"benchmark_app_throughput": f"benchmark_app -m {xml} -d CPU -hint throughput -shape [{B},3,{size},{size}] -t {a.bench_app_seconds}",
                     "benchmark_app_latency": f"benchmark_app -m {xml} -d CPU -hint none -nstreams 1 -nthreads {a.threads} -shape [1,3,{size},{size}] -t {a.bench_app_seconds}",
                     "e2e": f"remyx-nb predict {a.compiled} IMGS -o OUT.jsonl --batch-size {B} --workers W --quiet (W in {e2e_workers})"}}
    L = [f"$ python benchmarks/bench_predict.py {' '.join(sys.argv[1:])}   ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, no GPU)",
         f"{a.n} paths ({len(photos)} photos of {a.images}, repeated), batch {B}, {a.workers} decode threads, "
         f"{os.cpu_count()} CPUs, model {a.compiled}; medians of {a.rounds} rounds",
         f"  decode only                         {med['decode_ips']:8.1f} img/s",
         f"  runtime only (project, async)       {med['runtime_ips']:8.1f} img/s",
         f"  runtime only (benchmark_app)        {app_tp or float('nan'):8.1f} img/s   (-hint throughput, batch {B})",
         *[f"  end to end  (remyx-nb predict --workers {w})  {med[f'e2e_ips_workers{w}']:8.1f} img/s" for w in e2e_workers],
         f"  end to end (best, --workers {best}) / min(decode, runtime)   {summary['e2e_over_min']:.3f}   bound: {bound}",
         f"  shared-core bound 1/(1/d + 1/r)     {shared:8.1f} img/s   end to end / it: {summary['e2e_over_shared_core_bound']:.3f}"]
    L += [f"  ray {k:30s}  {v if v is not None else float('nan'):8.1f} img/s   (actor start-up included)" for k, v in ray_res.items()]
    lat = summary["latency_b1_fp16_ms"]
    L += [f"  batch-1 FP16 latency, {a.threads} threads: compile's benchmark {ours:.2f} ms, benchmark_app {app_lat} ms "
          f"(ratio {lat['ratio_now']}); benchmark.json recorded {recorded} ms (ratio {lat['ratio_recorded']})",
          f"  load average at the end: {summary['machine']['load_avg_at_end']}"]
    txt = "\n".join(L); print(txt)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out + ".txt").write_text(txt + "\n"); Path(a.out + ".json").write_text(json.dumps(summary, indent=1) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__": main()
