"""GPU-path check for the diffusers generator, printed as JSON: fp16 weights and channels_last UNet on CUDA, text-to-image and
img2img through `synth.generate` on a tiny random-weight pipeline built from configs (no download), images/s.

    python benchmarks/gpu_check.py [--device cuda] [--per-class 16] [--size 64]
"""
from __future__ import annotations
import argparse, json, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--per-class", type=int, default=16); p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8); p.add_argument("--steps", type=int, default=4)
    a = p.parse_args()
    from remyx_nb.synth.diffusers import tiny_pipeline, load_pipeline
    from remyx_nb.synth import generate, read_manifest
    from remyx_nb.spec import parse_request
    tmp = Path(tempfile.mkdtemp())
    model = tiny_pipeline(tmp/"tiny-sd")
    pipe = load_pipeline(str(model), a.device)
    res = {"device": a.device, "gpu": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else None,
           "unet_dtype": str(pipe.unet.dtype), "unet_channels_last": bool(next(pipe.unet.parameters()).is_contiguous(memory_format=torch.channels_last))
           if any(q.dim() == 4 for q in pipe.unet.parameters()) else None}
    conv = next(q for q in pipe.unet.parameters() if q.dim() == 4)
    res["unet_channels_last"] = bool(conv.is_contiguous(memory_format=torch.channels_last))
    del pipe
    spec = parse_request("tell ladders from boxes on a warehouse floor")
    seeds = tmp/"seeds"; (seeds/"ladder").mkdir(parents=True)
    for k in range(2): Image.fromarray(np.full((70, 90, 3), 60 + 100*k, np.uint8)).save(seeds/"ladder"/f"real{k}.jpg")
    for mode, extra in (("text2img", {}), ("text2img+img2img", {"seed_images": str(seeds)})):
        out = tmp/f"out-{len(extra)}"
        t0 = time.perf_counter()
        s = generate(spec, out, ["diffusers"], per_class=a.per_class, seed=0, size=a.size, filter=False, progress=False,
                     model=str(model), device=a.device, batch_size=a.batch_size, steps=a.steps, workers=1, **extra)
        dt = time.perf_counter() - t0
        recs = list(read_manifest(out).values())
        modes = sorted({r["transform"]["mode"] for r in recs})
        res[mode] = {"images": s["total"], "seconds": round(dt, 2), "images_per_s": round(s["total"]/dt, 1), "modes": modes,
                     "all_files_exist": all((out/r["file_name"]).is_file() for r in recs)}
    print(json.dumps(res, indent=1))

if __name__ == "__main__": main()
