"""The package tree mirrors the pipeline: every module comes from a notebook, and no two modules import each other in a circle."""
import ast, json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT/"remyx_nb"

def _module_name(f:Path):
    name = ".".join(f.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")

def _imports(f:Path):
    "Modules of remyx_nb that `f` imports, at the top or inside functions."
    pkg = _module_name(f) if f.name == "__init__.py" else _module_name(f).rpartition(".")[0]
    deps = set()
    for n in ast.walk(ast.parse(f.read_text())):
        if isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level: base = ".".join(pkg.split(".")[:len(pkg.split(".")) - n.level + 1] + ([base] if base else []))
            if base.startswith("remyx_nb"):
                deps.add(base)
                deps |= {f"{base}.{a.name}" for a in n.names}  # `from remyx_nb.synth import filter` names a module
        elif isinstance(n, ast.Import): deps |= {a.name for a in n.names if a.name.startswith("remyx_nb")}
    return deps

def test_every_module_comes_from_a_notebook():
    exported = {}
    for nb in (ROOT/"nbs").glob("*.ipynb"):
        src = "".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        m = re.search(r"#\|\s*default_exp\s+([\w.]+)", src)
        if m: exported[m.group(1).removesuffix(".__init__")] = nb.name
    mods = {_module_name(f) for f in LIB.rglob("*.py") if f.name != "_modidx.py"} - {"remyx_nb"}
    orphans = sorted(m for m in mods if m.removeprefix("remyx_nb.") not in exported)
    assert not orphans, f"modules with no notebook behind them: {orphans}"

def test_folders_are_pipeline_stages():
    stages = {"synth", "compile", "deploy", "experiments"}
    pkgs = {d.name for d in LIB.iterdir() if d.is_dir() and (d/"__init__.py").exists()}
    assert pkgs <= stages | {"lake", "detect", "review", "registry"}, pkgs
    assert {"synth", "compile", "deploy", "experiments"} <= pkgs

def test_no_import_cycles():
    files = [f for f in LIB.rglob("*.py") if f.name != "_modidx.py"]
    inits = {_module_name(f) for f in files if f.name == "__init__.py"}
    graph = {_module_name(f): _imports(f) for f in files}
    def reach(a, seen):
        for d in graph.get(a, ()):
            if d in graph and d not in inits and d not in seen: seen.add(d); reach(d, seen)
        return seen
    cyc = sorted(m for m in graph if m not in inits and m in reach(m, set()))
    assert not cyc, f"modules that import each other in a circle: {cyc}"

def test_old_public_names_still_import():
    from remyx_nb.synth import generate, GENERATORS
    from remyx_nb.compile import compile_model
    from remyx_nb.deploy import Predictor, predict_paths
    from remyx_nb.experiments import run_arm, run_notebook
    assert callable(generate) and callable(compile_model) and callable(run_arm) and GENERATORS

_NO_NETWORK = r'''
import socket, sys, importlib, pkgutil
tried = []
def refuse(*a, **k): tried.append(repr(a[1:] or a)[:80]); raise OSError("offline")
socket.getaddrinfo = refuse; socket.socket.connect = refuse; socket.create_connection = refuse
first = sys.argv[1]
if first != "remyx_nb": importlib.import_module(first)
import remyx_nb
for m in pkgutil.walk_packages(remyx_nb.__path__, "remyx_nb."):
    if m.name != "remyx_nb._modidx": importlib.import_module(m.name)
import albumentations
print("TRIED", len(tried), tried[:3])
'''

def test_importing_the_library_opens_no_connection():
    "Everything runs offline: no module (nor albumentations, which asks PyPI for updates on import) reaches the network."
    import os, subprocess, sys
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    run = lambda first: subprocess.run([sys.executable, "-c", _NO_NETWORK, first], env=env, capture_output=True, text=True,
                                       cwd=ROOT, timeout=300)
    # the library's detection data module imports albumentations at its top: it must keep it offline
    for first in ("remyx_nb.detect.data", "remyx_nb"):
        r = run(first)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "TRIED 0 " in r.stdout, f"importing {first} tried the network: {r.stdout.strip()}"
    # the guard itself works: albumentations imported on its own does try
    r = run("albumentations")
    assert "TRIED 0 " not in r.stdout and "TRIED" in r.stdout, r.stdout + r.stderr[-500:]
