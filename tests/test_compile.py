"""compile stage: ONNX / OpenVINO IR FP16+INT8 / Myriad X blob / NN Archive from a trained model, parity on real photos,
and the errors a user can cause. The heavy compile happens once, in the session fixture `compiled_dir` (conftest.py)."""
import json, shutil
from pathlib import Path
import numpy as np, onnx, pytest
from remyx_nb.core import RemyxError, read_json
from remyx_nb.compile import blob as B

def one_line_error(r, *needles):
    "A user error: exit 2, one line on stderr, no traceback, naming what to do."
    err = r.stderr.strip()
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], err[-2000:])
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for n in needles: assert n in err, err
    return err

def test_artifacts_follow_the_contract(compiled_dir, forklift_model_dir):
    for f in ("model.onnx", "openvino/model_fp16.xml", "openvino/model_fp16.bin", "openvino/model_int8.xml",
              "openvino/model_int8.bin", "model.blob", "model.tar.xz", "labels.json", "parity.json", "benchmark.json"):
        assert (compiled_dir/f).is_file(), f
    assert read_json(compiled_dir/"labels.json") == read_json(forklift_model_dir/"labels.json")
    g = onnx.load(compiled_dir/"model.onnx").graph
    assert [i.name for i in g.input] == ["image"] and [o.name for o in g.output] == ["logits"]
    t = g.input[0].type.tensor_type
    assert t.elem_type == onnx.TensorProto.UINT8
    assert t.shape.dim[0].dim_param and [d.dim_value for d in t.shape.dim[1:]] == [3, 224, 224]
    assert {o.domain or "ai.onnx" for o in onnx.load(compiled_dir/"model.onnx").opset_import} == {"ai.onnx"}
    assert onnx.load(compiled_dir/"model.onnx").opset_import[0].version == 11
    import openvino as ov
    for x in ("fp16", "int8"):
        m = ov.Core().read_model(compiled_dir/f"openvino/model_{x}.xml")
        assert m.input(0).get_any_name() == "image" and m.output(0).get_any_name() == "logits"
        assert m.input(0).get_element_type() == ov.Type.u8

def test_ir_predicts_the_same_classes_as_torch_on_real_photos(compiled_dir, shared_datasets):
    "The must-show numbers: on the 222 real forklift_person test photos, FP16 ≥ 99 % and INT8 ≥ 98 % top-1 agreement."
    p = read_json(compiled_dir/"parity.json")
    n_test = sum(1 for f in (shared_datasets/"forklift_person/test").rglob("*.jpg"))
    assert p["reference"] == "torch" and p["n_images"] == n_test - p["skipped_images"]
    b = p["backends"]
    assert b["onnx"]["max_abs_logit_diff"] < 1e-3 and b["onnx"]["top1_agreement"] == 1.0
    assert b["openvino_fp16"]["top1_agreement"] >= 0.99 and b["openvino_fp16"]["max_abs_logit_diff"] < 0.1
    assert b["openvino_int8"]["top1_agreement"] >= 0.98
    assert abs(b["openvino_int8"]["accuracy"] - b["torch"]["accuracy"]) <= 0.02

def test_benchmark_records_latency_and_throughput(compiled_dir):
    bm = read_json(compiled_dir/"benchmark.json")
    assert bm["batch"] == 1 and bm["threads"] == 2
    assert set(bm["runtimes"]) == {"torch_eager", "openvino_fp16", "openvino_int8"}
    for r in bm["runtimes"].values():
        assert 0 < r["latency_ms_median"] <= r["latency_ms_p90"] and r["throughput_fps"] > 0
    assert bm["speedup_vs_torch"]["torch_eager"] == 1.0

def test_blob_is_what_depthai_loads(compiled_dir):
    info = B.blob_info(compiled_dir/"model.blob")
    assert info["shaves"] == 6 and info["cmx_slices"] == 6
    assert info["inputs"] == {"image": {"shape": [1, 3, 224, 224], "dtype": "U8F"}}
    assert list(info["outputs"]) == ["logits"] and info["outputs"]["logits"]["shape"][-1] == 2

def test_nn_archive_round_trip(compiled_dir):
    a = B.read_nn_archive(compiled_dir/"model.tar.xz")
    assert a["labels"] == read_json(compiled_dir/"labels.json")["labels"]
    assert (a["model_type"], a["shaves"], a["input_size"], a["parser"]) == ("BLOB", 6, [224, 224], "ClassificationParser")
    assert a["input"]["dai_type"] == "RGB888p"

def _tiny_onnx(path, op=None, size=16):
    from onnx import helper as oh, TensorProto
    x = oh.make_tensor_value_info("image", TensorProto.UINT8, [1, 3, size, size])
    y = oh.make_tensor_value_info("logits", TensorProto.FLOAT, None)
    # fresh random weights: a new cache key each run, so "compiled" and "cached" are both really exercised
    w = oh.make_tensor("w", TensorProto.FLOAT, [2, 3, 1, 1], np.random.default_rng().normal(size=6).astype(np.float32))
    nodes = [oh.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT), oh.make_node("Conv", ["f", "w"], ["c"])]
    last = "c"
    if op: nodes.append(oh.make_node(op, ["c"], ["e"], name="wave")); last = "e"
    nodes += [oh.make_node("GlobalAveragePool", [last], ["p"]), oh.make_node("Flatten", ["p"], ["logits"])]
    m = oh.make_model(oh.make_graph(nodes, "tiny", [x], [y], [w]), opset_imports=[oh.make_opsetid("", 11)])
    m.ir_version = 6; onnx.save(m, path); return path

def test_blob_honours_shaves_and_is_cached_by_content(tmp_path):
    src = _tiny_onnx(tmp_path/"t.onnx")
    a = B.compile_blob(src, tmp_path/"a.blob", shaves=3, cmx_slices=4, use_cache=False, verbose=False)
    assert (a["shaves"], a["cmx_slices"], a["cached"]) == (3, 4, False)
    b = B.compile_blob(src, tmp_path/"b.blob", shaves=3, cmx_slices=4, verbose=False)
    assert b["cached"] and (tmp_path/"a.blob").read_bytes() == (tmp_path/"b.blob").read_bytes()
    c = B.compile_blob(src, tmp_path/"c.blob", shaves=4, verbose=False)  # other settings: not the cached blob
    assert not c["cached"] and c["shaves"] == 4

def test_a_layer_the_vpu_cannot_run_is_named(tmp_path):
    with pytest.raises(RemyxError, match=r'Layer "[^"]+" \(Sin\) cannot run on the Myriad X VPU'):
        B.compile_blob(_tiny_onnx(tmp_path/"sin.onnx", "Sin"), tmp_path/"sin.blob", use_cache=False, verbose=False)
    assert not (tmp_path/"sin.blob").exists()

def test_missing_prerequisites_say_what_to_install(monkeypatch):
    monkeypatch.setattr(B, "_find_library", lambda name: None)
    with pytest.raises(RemyxError, match=r"apt-get install -y libusb-1.0-0"): B.check_prerequisites(build=False)
    monkeypatch.setenv("CXX", "no-such-compiler")
    with pytest.raises(RemyxError, match=r"apt-get install -y g\+\+"): B.check_prerequisites(build=True)

def test_cli_compiles_and_reuses_the_cached_blob(cli, compiled_dir, forklift_model_dir, shared_datasets, tmp_path):
    out = tmp_path/"c"
    r = cli("compile", forklift_model_dir, "-o", out, "--blob", "--archive", "--data", shared_datasets/"forklift_person/test",
            "--max-images", "12", "--bench-iters", "3")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "reusing the cached blob" in r.stdout and "wrote" in r.stdout
    assert (out/"model.blob").read_bytes() == (compiled_dir/"model.blob").read_bytes()
    assert read_json(out/"parity.json")["n_images"] == 12 and not (out/"openvino/model_int8.xml").exists()

def test_cli_bad_inputs_are_one_line_and_keep_earlier_results(cli, compiled_dir, forklift_model_dir, shared_datasets, tmp_path):
    test = shared_datasets/"forklift_person/test"
    one_line_error(cli("compile", tmp_path/"nope", "-o", tmp_path/"o"), "does not exist")
    one_line_error(cli("compile", forklift_model_dir, "-o", tmp_path/"o", "--data", test, "--image-size", "160"),
                   "trained on 224×224", "--image-size 224")
    one_line_error(cli("compile", forklift_model_dir, "-o", tmp_path/"o", "--data", tmp_path/"no_photos"), "does not exist", "--data")
    one_line_error(cli("compile", forklift_model_dir, "-o", tmp_path/"o", "--data", test, "--blob", "--shaves", "17"),
                   "--shaves must be")
    one_line_error(cli("compile", forklift_model_dir, "-o", tmp_path/"o", "--data", test, "--blob",
                       env={"REMYX_CACHE": str(tmp_path/"fresh_cache"), "CXX": "no-such-compiler"}), "g++")
    assert not (tmp_path/"o").exists()
    keep = tmp_path/"earlier"; shutil.copytree(compiled_dir, keep)
    before = {p: p.read_bytes() for p in keep.rglob("*") if p.is_file()}
    one_line_error(cli("compile", forklift_model_dir, "-o", keep, "--data", test), "--overwrite")
    assert {p: p.read_bytes() for p in keep.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier"]  # nothing half-written beside it
