"Train stage: the model folder contract, a checkpoint that rebuilds itself, ONNX-exportable, and the CLI's bad inputs."
import io, json, warnings
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
from remyx_nb.core import RemyxError, IMAGENET_MEAN, IMAGENET_STD, frame_image, load_rgb, image_folder, FRAMINGS
from remyx_nb.backbones import to_tensor
from remyx_nb.train import load_model, train, set_trainable


def make_folder(root, classes=("box", "ladder"), n=10, seed=0):
    rng = np.random.default_rng(seed); root = Path(root)
    for i, c in enumerate(classes):
        (root/c).mkdir(parents=True, exist_ok=True)
        for j in range(n):
            a = rng.integers(0, 80, (48, 64, 3), dtype=np.uint8); a[..., i] += 150
            Image.fromarray(a).save(root/c/f"{c}_{j}.jpg")
    return root


def one_line(r):
    lines = r.stderr.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("remyx-nb: error:") and "Traceback" not in r.stderr


def test_model_folder_contract(forklift_model_dir):
    d = forklift_model_dir
    assert {"model.ckpt", "labels.json", "metrics.json", "split.json"} <= {p.name for p in d.iterdir()}
    info = json.loads((d/"labels.json").read_text())
    assert info["framing"] in FRAMINGS and set(info["taps"]) <= set(range(16))
    assert {k: v for k, v in info.items() if k not in ("framing", "taps")} == {
        "labels": ["forklift", "person"], "image_size": 224, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
        "backbone": "efficientnet_lite0", "input": "RGB"}
    m = json.loads((d/"metrics.json").read_text())
    assert m["n_train"] + m["n_val"] == 531 and m["kept"] in ("head", "finetune")
    assert {"decode_s", "features_s", "cv_s", "total_s"} <= set(m["times"])
    names = [r["recipe"] for r in m["cv"]["recipes"]]
    assert names[0] == "crop/head/C=1" and m["recipe"]["name"] in names   # the probe's recipe is always a candidate
    split = json.loads((d/"split.json").read_text())
    assert sum(len(v) for v in split["real"].values()) == 531
    from remyx_nb.core import current_umask
    for f in ("model.ckpt", "labels.json", "metrics.json", "split.json"):  # readable by others as the umask allows
        assert (d/f).stat().st_mode & 0o777 == 0o666 & ~current_umask(), f
        if f.endswith(".json"): json.loads((d/f).read_text(), parse_constant=lambda c: pytest.fail(f"{f} holds {c}"))


def test_load_model_rebuilds_and_predicts_real_photos(forklift_model_dir, shared_datasets):
    model, info = load_model(forklift_model_dir)
    assert not model.training and info["labels"] == ["forklift", "person"]
    classes, items = image_folder(shared_datasets/"forklift_person"/"test")
    pick = items[:6] + items[-6:]   # 6 forklifts, 6 people
    with torch.no_grad():
        logits = model(to_tensor([frame_image(load_rgb(p), 224, info["framing"]) for p, _ in pick]))
    assert logits.shape == (12, 2)
    assert (logits.argmax(1).numpy() == np.array([i for _, i in pick])).mean() >= 10/12


def test_model_exports_to_onnx_opset11_with_edge_friendly_ops(forklift_model_dir):
    onnx = pytest.importorskip("onnx")
    model, _ = load_model(forklift_model_dir)
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 3, 224, 224), f, opset_version=11, dynamo=False,
                          input_names=["image"], output_names=["logits"])
    ops = {n.op_type for n in onnx.load_from_string(f.getvalue()).graph.node}
    assert "Conv" in ops and "Gemm" in ops and "Clip" in ops          # convs, ReLU6, the linear head
    assert not ops & {"Sigmoid", "Mul", "HardSwish", "Loop", "If"}     # no swish / SE / control flow


def test_set_trainable_unfreezes_only_the_top(forklift_model_dir):
    model, _ = load_model(forklift_model_dir)
    n = set_trainable(model.backbone, 2)
    blocks = model.backbone.net.blocks
    assert all(p.requires_grad for b in blocks[-2:] for p in b.parameters())
    assert not any(p.requires_grad for b in blocks[:-2] for p in b.parameters())
    assert 0 < n < sum(p.numel() for p in model.backbone.parameters())


def test_train_is_reproducible_and_never_overwrites(tmp_path):
    real = make_folder(tmp_path/"real")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = train([real], tmp_path/"a", image_size=64, seed=1)
        b = train([real], tmp_path/"b", image_size=64, seed=1)
        sa, sb = (torch.load(tmp_path/x/"model.ckpt", weights_only=False)["state_dict"] for x in "ab")
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        assert a["cv"] == b["cv"] and a["recipe"] == b["recipe"]
        before = (tmp_path/"a"/"model.ckpt").read_bytes()
        with pytest.raises(RemyxError, match="already holds a model"): train([real], tmp_path/"a", image_size=64)
        assert (tmp_path/"a"/"model.ckpt").read_bytes() == before


def test_fine_tune_not_kept_leaves_the_backbone_untouched(tmp_path):
    "Stage 2 that loses on validation must leave exactly the stage-1 model (backbone and head)."
    real = make_folder(tmp_path/"real", n=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = train([real], tmp_path/"ft", image_size=64, finetune_epochs=1, finetune_blocks=1, batch_size=8,
                  backbone_lr=0.5, lr=0.5)   # a learning rate that wrecks the fine-tune
        h = train([real], tmp_path/"head", image_size=64, finetune_epochs=0)
    assert "val_acc" in m["stage2"] and m["kept"] == "head"
    sf, sh = (torch.load(tmp_path/x/"model.ckpt", weights_only=False)["state_dict"] for x in ("ft", "head"))
    assert sf.keys() == sh.keys() and all(torch.equal(sf[k], sh[k]) for k in sf)


def test_cli_train_writes_the_model_folder(tmp_path, cli):
    real = make_folder(tmp_path/"real")
    r = cli("train", real, "-o", tmp_path/"m", "--image-size", "64", "--seed", "3", "--shots", "8")
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith(f"wrote {tmp_path/'m'}") and "2 classes, 16 images (16 real), recipe" in last and "remyx-nb evaluate" in last
    m = json.loads((tmp_path/"m"/"metrics.json").read_text())
    assert m["n_train"] + m["n_val"] == 16 and m["classes"] == ["box", "ladder"] and m["seed"] == 3
    assert (tmp_path/"m"/"model.ckpt").exists()


def test_cli_train_bad_inputs_one_line_exit_2(tmp_path, cli):
    real = make_folder(tmp_path/"real", n=4)
    empty = make_folder(tmp_path/"empty", n=3); (empty/"crate").mkdir()
    r = cli("train", empty, "-o", tmp_path/"m1", "--image-size", "64")
    assert r.returncode == 2 and one_line(r) and "has no images" in r.stderr
    r = cli("train", real, "-o", tmp_path/"m3", "--shots", "0")
    assert r.returncode == 2 and one_line(r) and "--shots" in r.stderr
    one = make_folder(tmp_path/"one", classes=("box",), n=4)
    r = cli("train", one, "-o", tmp_path/"m4", "--image-size", "64")
    assert r.returncode == 2 and one_line(r) and "only one class" in r.stderr and "background" in r.stderr
    parent = tmp_path/"photos"; make_folder(parent/"train", n=3); make_folder(parent/"test", n=3)
    r = cli("train", parent, "-o", tmp_path/"m5", "--image-size", "64")
    assert r.returncode == 2 and one_line(r) and f"did you mean {parent/'test'}" in r.stderr
    assert not any((tmp_path/f"m{i}").exists() for i in (1, 3, 4, 5))   # failed runs leave no folder behind


def test_cli_train_corrupt_jpeg_only_warns(tmp_path, cli):
    real = make_folder(tmp_path/"real", n=6)
    (real/"box"/"broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    r = cli("train", real, "-o", tmp_path/"m", "--image-size", "64")
    assert r.returncode == 0, r.stderr
    assert "broken.jpg" in r.stderr and "cannot be decoded" in r.stderr
    assert json.loads((tmp_path/"m"/"metrics.json").read_text())["skipped"] == [str(real/"box"/"broken.jpg")]


def test_load_model_without_checkpoint_is_a_user_error(tmp_path):
    (tmp_path/"m").mkdir()
    with pytest.raises(RemyxError, match="has no model.ckpt"): load_model(tmp_path/"m")


def test_mixed_real_and_synthetic_sources_are_weighted(tmp_path):
    import json as _json
    real, synth = make_folder(tmp_path/"real", n=6), make_folder(tmp_path/"synth", n=20, seed=5)
    (synth/"metadata.jsonl").write_text("".join(_json.dumps({"file_name": f"{c}/{c}_{j}.jpg", "label": c, "generator": "t"}) + "\n"
                                                for c in ("box", "ladder") for j in range(20)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = train([real, synth], tmp_path/"m", image_size=64)
    kinds = {s["kind"]: s for s in m["sources"]}
    assert kinds["real"]["sample_weight"] == 0.8 and kinds["synthetic"]["sample_weight"] == 0.2
    assert kinds["real"]["loss_weight"] == 1.0 and kinds["synthetic"]["loss_weight"] == 0.25
    assert kinds["synthetic"]["n_train"] == 40 and m["n_val"] == 2 and kinds["real"]["n_train"] == 10   # validation: real only


def test_generate_and_train_draw_the_same_shots_and_validation_never_learns_from_itself(tmp_path, cli):
    "`generate --shots 5 --seed 1` and `train --shots 5 --seed 1` use the same 5 photos per class; no synthetic image trains against the photo it was made from."
    from remyx_nb.data import ImageFolders
    real = make_folder(tmp_path/"real", n=12)
    assert cli("spec", "tell boxes from ladders", "--concepts", "box,ladder", "-o", tmp_path/"spec.yaml").returncode == 0
    r = cli("generate", tmp_path/"spec.yaml", "-o", tmp_path/"syn", "--generator", "augment", "--seed-images", real,
            "--shots", "5", "--seed", "1", "--per-class", "10", "--no-filter", "--size", "64", "--quiet")
    assert r.returncode == 0, r.stderr
    seeds = {json.loads(l)["source"] for l in (tmp_path/"syn"/"metadata.jsonl").read_text().splitlines() if l.strip()}
    r = cli("train", tmp_path/"syn", real, "-o", tmp_path/"m", "--shots", "5", "--seed", "1", "--image-size", "64")
    assert r.returncode == 0, r.stderr
    split = json.loads((tmp_path/"m"/"split.json").read_text())
    trained = {str(Path(p).resolve()) for ps in split["real"].values() for p in ps}
    assert all(len(ps) == 5 for ps in split["real"].values())
    assert seeds == trained   # the very same 5 photos per class, not two different draws
    dm = ImageFolders([tmp_path/"syn", real], 64, shots=5, seed=1); dm.setup()
    held = set(dm.groups[dm.val_idx])
    made_from_held = [i for i in range(len(dm.labels)) if not dm.is_real[i] and dm.groups[i] in held]
    assert made_from_held and not set(made_from_held) & set(dm.train_idx)   # the exclusion was exercised and held


def _quiet_train(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(*args, **kw)


def test_cpu_finetune_reloads_exactly_and_exports(tmp_path):
    "A fine-tuned network (top blocks changed, taps recomputed by them) saved, reloaded: the same logits; its ONNX export too."
    from remyx_nb.train import LitClassifier, TopTune, TAPS, cache_activations, fit_top, _save_ckpt
    lit = LitClassifier(["a", "b"], image_size=64, pretrained=False, taps=TAPS)
    imgs = torch.randint(0, 256, (8, 64, 64, 3), dtype=torch.uint8); tune = TopTune(epochs=2, batch_size=4, lr=1e-2)
    A, T = cache_activations(lit.net.backbone, imgs, tune)
    before = [p.clone() for p in lit.net.backbone.net.blocks[-1].parameters()]
    fit_top(lit.net, A, T, np.arange(len(A)), np.array([0, 1]*8), np.ones(len(A)), tune)
    assert any(not torch.equal(a, b) for a, b in zip(before, lit.net.backbone.net.blocks[-1].parameters()))
    d = tmp_path/"m"; d.mkdir(); _save_ckpt(lit, d/"model.ckpt")
    (d/"labels.json").write_text(json.dumps({"labels": ["a", "b"], "image_size": 64, "mean": list(IMAGENET_MEAN),
                                             "std": list(IMAGENET_STD), "backbone": "efficientnet_lite0", "input": "RGB",
                                             "framing": "crop", "taps": list(TAPS)}))
    model, _ = load_model(d)
    x = (imgs.permute(0, 3, 1, 2).float()/255 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))/torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad(): assert torch.equal(model(x), lit.net.eval()(x))
    ort = pytest.importorskip("onnxruntime")
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x[:1], f, opset_version=11, dynamo=False, input_names=["image"], output_names=["logits"])
    got = ort.InferenceSession(f.getvalue(), providers=["CPUExecutionProvider"]).run(None, {"image": x[:1].numpy()})[0]
    with torch.no_grad(): np.testing.assert_allclose(got, model(x[:1]).numpy(), atol=1e-4)


def test_cpu_finetune_kept_trains_only_the_top(tmp_path):
    from remyx_nb.train import Recipe, TopTune
    real = make_folder(tmp_path/"real", n=8)
    kw = dict(image_size=64, recipes=[Recipe("full")], seed=2)
    m = _quiet_train([real], tmp_path/"ft", finetune="always", top_tune=TopTune(epochs=1, folds=2, batch_size=8), **kw)
    h = _quiet_train([real], tmp_path/"head", finetune="off", **kw)
    ft = m["finetune"]
    assert m["kept"] == "finetune" and ft["tried"] and ft["kept"] and ft["folds_run"] == 2 and len(ft["head"]["accuracy"]) == 2
    assert h["kept"] == "head" and h["finetune"]["why"].startswith("off")
    (a, _), (b, _) = load_model(tmp_path/"ft"), load_model(tmp_path/"head")
    ba, bb = a.backbone.net.blocks, b.backbone.net.blocks
    assert all(torch.equal(p, q) for p, q in zip(ba[:12].parameters(), bb[:12].parameters()))      # the trunk is ImageNet's
    assert not all(torch.equal(p, q) for p, q in zip(ba[12:].parameters(), bb[12:].parameters()))  # the top was trained


def test_cpu_finetune_that_loses_is_not_kept_and_budget_skips(tmp_path):
    "Tried (the trigger lowered to 0), it loses on the folds (a learning rate that wrecks it): the head model is written; over budget it is not tried."
    from remyx_nb.train import Recipe, TopTune
    real = make_folder(tmp_path/"real", n=8)
    kw = dict(image_size=64, recipes=[Recipe("full")], seed=2)
    m = _quiet_train([real], tmp_path/"ft", top_tune=TopTune(epochs=2, folds=2, batch_size=4, lr=0.5, head_lr=1, min_error=0, min_real=0), **kw)
    ft = m["finetune"]
    assert ft["mode"] == "auto" and ft["tried"] and not ft["kept"] and m["kept"] == "head" and ft["why"].startswith("not kept")
    h = _quiet_train([real], tmp_path/"head", finetune="off", **kw)
    sf, sh = (torch.load(tmp_path/x/"model.ckpt", weights_only=False)["state_dict"] for x in ("ft", "head"))
    assert sf.keys() == sh.keys() and all(torch.equal(sf[k], sh[k]) for k in sf)
    s = _quiet_train([real], tmp_path/"slow", top_tune=TopTune(min_error=0, min_real=0), finetune_budget=1e-3, **kw)
    assert not s["finetune"]["tried"] and "over budget" in s["finetune"]["why"] and s["finetune"]["estimate_s"] > 0
    e = _quiet_train([real], tmp_path/"easy", top_tune=TopTune(min_real=0), **kw)   # two colours: CV error 0, the head is enough
    assert not e["finetune"]["tried"] and e["finetune"]["why"].startswith("not needed") and e["kept"] == "head"
    few = _quiet_train([real], tmp_path/"few", top_tune=TopTune(min_error=0), **kw)   # 8 photos per class: too few to judge it
    assert not few["finetune"]["tried"] and few["finetune"]["why"].startswith("not tried: 8 real photos") and few["kept"] == "head"
    assert few["finetune"]["trigger"]["real_per_class"] == 8
