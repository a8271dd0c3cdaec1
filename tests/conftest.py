import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"

@pytest.fixture(scope="session")
def repo_root(): return ROOT

@pytest.fixture(scope="session")
def shared_datasets():
    if not SHARED.is_dir(): pytest.skip(f"{SHARED} is not here")
    return SHARED

def run_cli(*args, cwd=None, timeout=600, env=None):
    "Run `remyx-nb ARGS` in a subprocess; returns CompletedProcess (text)."
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "remyx_nb.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=e)

@pytest.fixture
def cli(): return run_cli

@pytest.fixture(scope="session")
def compiled_dir(forklift_model_dir, shared_datasets, tmp_path_factory):
    "The forklift model compiled once per session: ONNX, IR FP16+INT8, blob (6 SHAVEs), NN Archive, parity on the real test photos."
    from remyx_nb.compile import compile_model
    out = tmp_path_factory.mktemp("compiled")/"forklift"
    compile_model(forklift_model_dir, out, int8=True, blob=True, archive=True, data=shared_datasets/"forklift_person/test",
                  calib=shared_datasets/"forklift_person/train", bench_iters=10, verbose=False)
    return out

@pytest.fixture(scope="session")
def forklift_model_dir(shared_datasets, tmp_path_factory):
    "A model folder (model.ckpt, labels.json, metrics.json) trained once per session on forklift_person/train: stage-1 head on cached frozen EfficientNet-Lite0 features, ~20-40 s on 2 CPU cores."
    import warnings
    from remyx_nb.train import train
    out = tmp_path_factory.mktemp("forklift_model") / "model"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train([shared_datasets / "forklift_person" / "train"], out, seed=0, finetune_epochs=0)
    return out
