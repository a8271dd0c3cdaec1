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
