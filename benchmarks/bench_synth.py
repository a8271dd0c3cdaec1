"""Synth-stage throughput: images/s per generator, the composite target, the whole command, and the cost of filtering.

    python benchmarks/bench_synth.py            # full run (about 2 minutes on 2 cores)
    python benchmarks/bench_synth.py --n 400    # quicker

Seed photos: 10 per class from ../shared/datasets/forklift_person/train when present, else procedural sprites.
Targets (issue 3): composites >= 300 images/s at 224 px on 2 cores with filtering off (steady state), and the whole
`remyx-nb generate` command for 2,000 composites >= 150 images/s.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent/"shared"/"datasets"/"forklift_person"/"train"

def seeds(tmp):
    "10 seed photos per class, and the spec of those classes."
    from remyx_nb.spec import parse_request
    if REAL.is_dir(): return REAL, parse_request("tell forklifts from people in the aisle", concepts=["forklift", "person"])
    from remyx_nb.synth.procedural import render_ladder, render_cone
    d = Path(tmp)/"seeds"; rng = np.random.default_rng(0)
    for lab, f in (("ladder", render_ladder), ("traffic_cone", render_cone)):
        (d/lab).mkdir(parents=True)
        for k in range(10): Image.fromarray(f(rng, 200)[0]).save(d/lab/f"{k}.png")
    return d, parse_request("tell ladders from cones in the warehouse", concepts=["ladder", "traffic_cone"])

def run(spec, out, gens, n, **kw):
    from remyx_nb.synth import generate
    return generate(spec, out, gens, per_class=n//len(spec.labels), progress=False, **kw)

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--n", type=int, default=2000); ap.add_argument("--size", type=int, default=224)
    a = ap.parse_args(); n, S = a.n, a.size
    tmp = Path(tempfile.mkdtemp(prefix="bench_synth_")); sd, spec = seeds(tmp); spec.image_size = S
    print(f"cores: {len(os.sched_getaffinity(0))}, image size {S}, seed photos: {sd}, load average {os.getloadavg()[0]:.1f}")
    # 0. CPU cost per image, one process: independent of what else the machine runs
    from remyx_nb.synth.composite import CompositeGenerator
    from remyx_nb.synth import write_sample
    g = CompositeGenerator(spec, seed_images=sd, shots=10).prepare(); (tmp/"cpu").mkdir()
    for lab in spec.labels: (tmp/"cpu"/lab).mkdir()
    k = min(n, 600); c0, w0 = time.process_time(), time.time()
    for i in range(k):
        lab = spec.labels[i % 2]; write_sample(g.make(lab, i, i), tmp/"cpu", f"{lab}/{i:05d}.jpg", "composite")
    cpu, wall = (time.process_time() - c0)/k, (time.time() - w0)/k
    print(f"composite, one process, {k} images: {1000*cpu:.2f} ms CPU per image ({1000*wall:.2f} ms wall) "
          f"-> {1/cpu:.0f} img/s per free core, {2/cpu:.0f} img/s on 2 free cores")
    # 1. composite steady state (generation loop only, no filter), 2 workers vs 1
    s2 = run(spec, tmp/"c2", "composite", n, seed_images=sd, shots=10, filter=False, workers=2)
    s1 = run(spec, tmp/"c1", "composite", n//2, seed_images=sd, shots=10, filter=False, workers=1)
    r2, r1 = s2["timings"]["generate_images_per_s"], s1["timings"]["generate_images_per_s"]
    print(f"\ncomposite, steady state, {n} images, --no-filter: {r2:.0f} img/s with 2 workers, {r1:.0f} img/s with 1 "
          f"(x{r2/r1:.2f}); target >= 300 img/s: {'MET' if r2 >= 300 else 'NOT MET'}")
    # 2. the whole command, process start to exit
    sp = tmp/"spec.yaml"; spec.save(sp)
    t = time.time()
    p = subprocess.run([sys.executable, "-m", "remyx_nb.cli", "generate", sp, "-o", tmp/"cmd", "--generator", "composite", "--seed-images", sd,
                        "--shots", "10", "--per-class", str(n//len(spec.labels)), "--no-filter", "--quiet"], capture_output=True, text=True)
    wall = time.time() - t; assert p.returncode == 0, p.stderr
    print(f"whole `remyx-nb generate` command, {n} composites: {wall:.2f} s = {n/wall:.0f} img/s "
          f"(target >= 150 img/s: {'MET' if n/wall >= 150 else 'NOT MET'}); {p.stdout.strip()}")
    # 3. every generator, 2 workers, filtering off
    m = max(200, n//5)
    print(f"\nper generator ({m} images, 2 workers, filter off):")
    print(f"{'generator':12s} {'img/s':>8s} {'prepare s':>10s} {'vs composite':>13s}")
    res = {}
    for g, kw in (("composite", dict(seed_images=sd, shots=10)), ("augment", dict(seed_images=sd, shots=10)), ("procedural", {})):
        pspec = spec
        if g == "procedural":
            from remyx_nb.spec import parse_request
            pspec = parse_request("our warehouse robot must avoid ladders", concepts=["ladder", "box", "pallet", "traffic_cone", "empty_floor"]); pspec.image_size = S
        s = run(pspec, tmp/f"g_{g}", g, m, filter=False, workers=2, **kw); res[g] = s["timings"]
    try:
        from remyx_nb.synth.diffusers import tiny_pipeline
        tp = tiny_pipeline(tmp/"tiny-sd"); sp64 = spec; s = run(sp64, tmp/"g_diffusers", "diffusers", 16, model=str(tp), steps=4, size=64, filter=False, device="cpu")
        res["diffusers*"] = s["timings"]
    except Exception as e: print(f"diffusers skipped: {e}")
    for g, t in res.items():
        print(f"{g:12s} {t['generate_images_per_s']:8.0f} {t['prepare_s']:10.2f} {t['generate_images_per_s']/res['composite']['generate_images_per_s']:13.2f}")
    print("  * diffusers: a tiny random-weight pipeline at 64 px, 4 steps, CPU: measures the generator's overhead, not a real model")
    # 4. the cost of filtering, reported separately
    s = run(spec, tmp/"filtered", "composite", m, seed_images=sd, shots=10, filter=True, workers=2)
    t = s["timings"]
    print(f"\nfiltering {s['total'] + sum(c['rejected'] for c in s['counts'].values())} composites: {t['filter_s']:.1f} s "
          f"({(m)/max(t['filter_s'], 1e-9):.0f} img/s) vs {t['generate_s']:.1f} s to generate them "
          f"(filter/generate time x{t['filter_s']/max(t['generate_s'], 1e-9):.1f}); agreement {s['filter']['agreement']}; "
          f"rejection rates {json.dumps({k: v['rejection_rate'] for k, v in s['counts'].items()})}")

if __name__ == "__main__": main()
