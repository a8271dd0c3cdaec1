"""Speed of the compiled artifacts and of the offline blob route, side by side in one run.

    .venv/bin/python benchmarks/bench_compile.py [MODEL_DIR] [--threads 2] [--iters 200]

Without MODEL_DIR it uses the pretrained EfficientNet-Lite0 trunk with a 2-class head (speed does not depend on the
head's weights). Prints batch-1 latency (median, p90) and throughput for torch eager, onnxruntime, OpenVINO IR FP16 and
INT8 with a fixed number of threads and their ratios to torch eager; then the Myriad X blob compile time without the
cache and the time of a cache hit. Targets (issue 5): IR FP16 >= 5x torch eager at batch 1 on 2 cores; blob compile
<= 30 s; cache hit <= 1 s."""
import argparse, os, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent/"shared"/"datasets"

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", nargs="?", help="folder written by `remyx-nb train` (default: pretrained trunk + 2-class head)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--calib", default=str(SHARED/"forklift_person/train"), help="INT8 calibration images")
    a = ap.parse_args(argv)
    from remyx_nb import compile as C, blob as B
    from remyx_nb.backbones import create_backbone
    from remyx_nb.core import IMAGENET_MEAN, IMAGENET_STD
    if a.model_dir:
        from remyx_nb.train import load_model
        model, info = load_model(a.model_dir)
    else:
        model = nn.Sequential(create_backbone("efficientnet_lite0"), nn.Linear(1280, 2)).eval()
        info = {"labels": ["a", "b"], "image_size": 224, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    size = info["image_size"]
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        onnx_path = C.export_onnx(model, info, td/"model.onnx")
        fp16 = C.to_ir(onnx_path, td/"model_fp16.xml")
        xc = C.load_batch(a.calib, size, limit=200)[0]
        int8 = C.quantize_int8(fp16, xc, td/"model_int8.xml")
        x = xc[:1]
        torch.set_num_threads(a.threads)
        runners = {"torch_eager": C.torch_runner(model, info), "onnxruntime": C.onnx_runner(onnx_path, threads=a.threads),
                   "openvino_fp16": C.ov_runner(fp16, threads=a.threads, batch=1),
                   "openvino_fp16_f32": C.ov_runner(fp16, "f32", threads=a.threads, batch=1),
                   "openvino_int8": C.ov_runner(int8, threads=a.threads, batch=1)}
        res = C.benchmark(runners, x, iters=a.iters, warmup=10)
        base = res["torch_eager"]["latency_ms_median"]
        load = os.getloadavg()[0]  # other jobs on the machine slow torch's thread pool far more than OpenVINO's
        print(f"batch-1 CPU latency, {a.threads} threads, {size}x{size}, {a.iters} calls each, "
              f"load average {load:.1f} on {os.cpu_count()} CPUs")
        print(f"{'runtime':20s} {'median ms':>10s} {'p90 ms':>8s} {'img/s':>8s} {'vs torch':>9s}")
        for k, r in res.items():
            print(f"{k:20s} {r['latency_ms_median']:10.2f} {r['latency_ms_p90']:8.2f} {r['throughput_fps']:8.1f} "
                  f"{base/r['latency_ms_median']:8.1f}x")
        b1 = C.export_onnx(model, info, td/"model_b1.onnx", batch=1)
        B.ov2021_toolchain(verbose=True)
        cold = B.compile_blob(b1, td/"cold.blob", shaves=6, use_cache=False, verbose=False)
        t = time.perf_counter(); hit = B.compile_blob(b1, td/"hit.blob", shaves=6, verbose=False); wall = time.perf_counter() - t
        assert hit["cached"]
        print(f"\nMyriad X blob ({(td/'cold.blob').stat().st_size/1e6:.1f} MB, 6 SHAVEs): compile {cold['seconds']:.1f} s "
              f"(target <= 30 s), cache hit {wall:.3f} s (target <= 1 s), ratio {cold['seconds']/wall:.0f}x")

if __name__ == "__main__": sys.exit(main())
