"""Detector compile parity: COCO mAP of torch, ONNX, OpenVINO IR FP16 and NNCF INT8 on the real forklift_detect test photos.

    .venv/bin/python benchmarks/bench_detect_compile.py MODEL_DIR [--data TEST_DIR] [--compiled DIR] [--preset mixed] [--keep-head-fp]

Runs `remyx-nb compile MODEL_DIR -o DIR --int8 --blob --archive --data TEST_DIR` (or reads DIR when it already holds a
compile) and writes benchmarks/results/cpu_detect_compile.{json,txt}: mAP@0.5 and mAP per runtime (project decoding and
depthai's parser's), max |Δ| of the outputs against torch, batch-1 latency, the blob's outputs and the archive's head.
Targets (issue 13): FP16 within 0.01 mAP@0.5 of torch, INT8 within 0.03."""
import argparse, json, platform, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent/"shared"/"datasets"

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir"); ap.add_argument("--data", default=str(SHARED/"forklift_detect/test"))
    ap.add_argument("--compiled", default=None, help="compile folder to write, or to read if it holds parity.json")
    ap.add_argument("--preset", default="mixed"); ap.add_argument("--keep-head-fp", action="store_true")
    ap.add_argument("--out", default=str(ROOT/"benchmarks/results/cpu_detect_compile"))
    ap.add_argument("--note", default="", help="what to know about this run (e.g. the commit that compiled a reused --compiled folder)")
    a = ap.parse_args(argv)
    from remyx_nb.core import read_json, atomic_write_json
    from remyx_nb.compile import compile_model, blob as B
    out = Path(a.compiled) if a.compiled else Path(a.out + "_compiled")
    t0 = time.time()
    if not (out/"parity.json").exists():
        compile_model(a.model_dir, out, int8=True, blob=True, archive=True, data=a.data, int8_preset=a.preset, keep_head_fp=a.keep_head_fp)
    par, bm = read_json(out/"parity.json"), read_json(out/"benchmark.json")
    arch = B.read_nn_archive(out/"model.tar.xz")
    head = json.loads(__import__("tarfile").open(out/"model.tar.xz").extractfile("config.json").read())["model"]["heads"][0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    res = {"model_dir": a.model_dir, "data": a.data, "compiled": str(out), "commit": commit, "machine": platform.processor() or platform.machine(),
           "parity": par, "benchmark": bm, "blob": B.blob_info(out/"model.blob"), "archive": {**arch, "head": head},
           "seconds": round(time.time() - t0, 1), "note": a.note}
    atomic_write_json(a.out + ".json", res)
    b, t = par["backends"], par["backends"]["torch"]["map50"]
    lines = [f"detector compile parity on {par['n_images']} real photos ({a.data}); model {a.model_dir}; commit {commit}",
             f"{'runtime':28s} {'mAP@0.5':>8s} {'mAP':>7s} {'Δ mAP@0.5':>10s} {'mAP@0.5 (depthai parser)':>25s} {'max|Δscore|':>12s}"]
    for k, v in b.items():
        lines.append(f"{k:28s} {v['map50']:8.3f} {v['map']:7.3f} {v['map50'] - t:+10.3f} {v['map50_depthai_parser']:25.3f} {v['max_abs_score_diff']:12.2e}")
    lines.append("batch-1 CPU latency, ms (median): " + ", ".join(f"{k} {v['latency_ms_median']:.1f}" for k, v in bm["runtimes"].items()))
    lines.append(f"blob: {len(res['blob']['outputs'])} outputs {sorted(res['blob']['outputs'])}, {res['blob']['shaves']} SHAVEs; "
                 f"NN Archive head parser {head['parser']} subtype {head['metadata']['subtype']}, input dai_type {arch['input']['dai_type']}")
    if a.note: lines.append(f"note: {a.note}")
    lines.append(f"targets: FP16 within 0.01 of torch: {abs(b['openvino_fp16']['map50'] - t) <= 0.01}; INT8 within 0.03: {abs(b['openvino_int8']['map50'] - t) <= 0.03}")
    Path(a.out + ".txt").write_text("\n".join(lines) + "\n"); print("\n".join(lines))

if __name__ == "__main__": sys.exit(main())
