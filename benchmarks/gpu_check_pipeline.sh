#!/usr/bin/env bash
# First check of the library's GPU code paths, end to end through `remyx-nb` (run on a lent GPU machine; CI has none).
#   1. classifier: `remyx-nb train` (cuda: bf16-mixed, channels_last, DataLoader workers, feature bank on cuda, the
#      Lightning stage-2 fine-tune when every class has >= 30 training photos) + `remyx-nb evaluate` on real photos;
#   2. detector: `remyx-nb train` on a COCO folder (--time-budget 120) + `remyx-nb evaluate` (COCO mAP);
#   3. image lake: `remyx-nb index` (does it embed on cuda at all?), img/s; plus the embedder alone vs the same backbone
#      through `train.extract_features` on cuda, on the same synthetic batch.
# Inputs (ignored by git, carried to the machine): .whl/site312.tar.xz (py3.12 packages the image lacks, unpacked to
# /tmp/site) and .gpudata/{fp,det}/ (subsets of ../shared/datasets/forklift_person and forklift_detect).
# Writes $OUT/h100_pipeline.txt (log) and $OUT/h100_pipeline.json (summary). Steps run on even if one fails.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_check_out}; mkdir -p "$OUT"
LOG=$OUT/h100_pipeline.txt; W=${W:-/tmp/gpucheck}; rm -rf "$W"; mkdir -p "$W"
DATA=${DATA:-.gpudata}; PY=${PY:-python3}
{

if [ -f .whl/site312.tar.xz ] && [ -z "${NO_SITE:-}" ]; then
  mkdir -p /tmp/site && tar xJf .whl/site312.tar.xz -C /tmp/site && export PYTHONPATH=/tmp/site:$PWD || exit 1
else export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}; fi
RX="$PY -m remyx_nb.cli"  # = the `remyx-nb` console script (remyx_nb.cli:main)
# local dry run on a CPU: NO_SITE=1 PY=.venv/bin/python CLS_ARGS="--time-budget 20 --epochs 1" DET_BUDGET=30 EMBED_N=128 bash benchmarks/gpu_check_pipeline.sh

echo "== env"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1; nproc
$PY -c "import torch, pytorch_lightning as pl, numpy, cv2, albumentations, openvino; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-', '| lightning', pl.__version__, '| numpy', numpy.__version__, '| cv2', cv2.__version__, '| albumentations', albumentations.__version__, '| openvino', openvino.__version__)"

declare -A RC T
step() {  # step NAME TIMEOUT CMD...: runs, times and records the exit status
  local name=$1 lim=$2; shift 2; echo; echo "== $name: $*"
  local t0=$EPOCHREALTIME
  timeout "$lim" "$@"; RC[$name]=$?
  T[$name]=$(awk "BEGIN{printf \"%.1f\", $EPOCHREALTIME - $t0}"); echo "== $name: rc=${RC[$name]} wall=${T[$name]}s"
}

step cls_train 150 $RX train $DATA/fp/train -o $W/cls ${CLS_ARGS:-}
step cls_eval 60 $RX evaluate $W/cls $DATA/fp/test -o $W/cls_eval
if [ -z "${SKIP_DET:-}" ]; then  # SKIP_DET=1: classifier and index only
step det_train 200 $RX train $DATA/det/train -o $W/det --time-budget ${DET_BUDGET:-120}
step det_eval 60 $RX evaluate $W/det $DATA/det/test -o $W/det_eval
fi
step lake_index 60 $RX index $DATA -o $W/idx
step embed_bench 60 $PY - "$W/embed_bench.json" <<'EOF'
import sys, time, json, numpy as np, torch
from remyx_nb.lake.index import Embedder
from remyx_nb.backbones import create_backbone
from remyx_nb.train import extract_features
import os; N = int(os.environ.get("EMBED_N", 2048)); x = np.random.default_rng(0).integers(0, 256, (N, 224, 224, 3), dtype=np.uint8); r = {"n": N}
t = time.perf_counter(); e = Embedder(); r["openvino_compile_s"] = time.perf_counter() - t
list(e.stream([(0, x[:64])], 64))  # warm-up
t = time.perf_counter(); f = np.concatenate([v for _, v in e.stream(((k, x[k:k + 64]) for k in range(0, N, 64)), 64)])
r["openvino_cpu_img_s"] = N/(time.perf_counter() - t); r["openvino_precision"] = e.runtime_precision
if torch.cuda.is_available():
    bb = create_backbone(); xt = torch.from_numpy(x).pin_memory()
    extract_features(bb, xt[:512], batch_size=256, device="cuda"); torch.cuda.synchronize()
    t = time.perf_counter(); g = extract_features(bb, xt, batch_size=256, device="cuda"); torch.cuda.synchronize()
    r["torch_cuda_bf16_img_s"] = N/(time.perf_counter() - t)
    a, b = f/np.linalg.norm(f, axis=1, keepdims=True), g.numpy()/np.linalg.norm(g.numpy(), axis=1, keepdims=True)
    r["cosine_openvino_vs_cuda_min"] = float((a*b).sum(1).min())
print(r); json.dump(r, open(sys.argv[1], "w"), indent=1)
EOF

echo; echo "== summary"
RCS=""; for k in "${!RC[@]}"; do RCS+="\"$k\": {\"rc\": ${RC[$k]}, \"wall_s\": ${T[$k]}},"; done
$PY - "$W" "$OUT/h100_pipeline.json" "{${RCS%,}}" <<'EOF'
import sys, json
from pathlib import Path
W, out, steps = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
def rd(p):
    try: return json.loads((W/p).read_text())
    except Exception as e: return {"missing": f"{p}: {type(e).__name__}"}
def pick(d, *ks): return {k: d.get(k) for k in ks}
import torch
s = {"gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "torch": torch.__version__, "steps": steps}
c = rd("cls/metrics.json")
s["classify_train"] = {**pick(c, "device", "precision", "n_images", "n_real", "kept", "selection", "stage1", "stage2", "finetune", "times"),
                       "recipe": (c.get("recipe") or {}).get("name")}
s["classify_eval"] = pick(rd("cls_eval/metrics.json"), "accuracy", "ci95", "macro_f1", "n", "per_class")
d = rd("det/metrics.json")
s["detect_train"] = pick(d, "device", "precision", "cached", "budget_s", "n_views", "steps", "passes", "train_loss", "times", "data", "val", "deploy")
s["detect_eval"] = {k: v for k, v in rd("det_eval/metrics.json").items() if not isinstance(v, list) or len(v) < 20}
i = rd("idx/index.json"); s["lake_index"] = {**pick(i, "n_paths", "n_vectors", "n_errors", "runtime_precision", "search"), "runs": i.get("runs")}
s["embed_bench"] = rd("embed_bench.json")
def strip(o): return {k: strip(v) for k, v in o.items() if k != "pr50"} if isinstance(o, dict) else o  # PR curves: 2×101 numbers
s = strip(s); Path(out).write_text(json.dumps(s, indent=1, default=str)); print(json.dumps(s, indent=1, default=str)[:8000])
EOF
} 2>&1 | tee "$LOG"
