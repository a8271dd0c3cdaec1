"Data stage: sources and weights, k-shot subsets, the stratified split, the uint8 cache and corrupt files."
import json, warnings
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
from remyx_nb.core import RemyxError
from remyx_nb.data import ImageFolders, make_sources, k_shot, scan, stratified_split


def make_folder(root, classes=("box", "ladder"), n=10, seed=0, synthetic=False):
    rng = np.random.default_rng(seed); root = Path(root)
    for i, c in enumerate(classes):
        (root/c).mkdir(parents=True, exist_ok=True)
        for j in range(n):
            a = rng.integers(0, 60, (40, 52, 3), dtype=np.uint8); a[..., i % 3] += 150
            Image.fromarray(a).save(root/c/f"{c}_{j}.jpg")
    if synthetic:
        (root/"metadata.jsonl").write_text("".join(json.dumps({"file_name": f"{c}/{c}_{j}.jpg", "label": c, "generator": "t"}) + "\n"
                                                   for c in classes for j in range(n)))
    return root


def test_mixed_sources_weights_and_validation_from_real_only(tmp_path):
    real, synth = make_folder(tmp_path/"real", n=8), make_folder(tmp_path/"synth", n=30, seed=1, synthetic=True)
    dm = ImageFolders([real, synth], image_size=32, val_frac=0.25, batch_size=20)
    dm.setup()
    assert dm.classes == ["box", "ladder"]
    assert (dm.src[dm.val_idx] == 0).all() and len(dm.val_idx) == 4      # 2 real per class held out
    assert sorted(set(dm.loss_w[dm.src == 1])) == [0.25] and sorted(set(dm.loss_w[dm.src == 0])) == [1.0]
    sampler = dm.train_dataloader().sampler
    drawn = np.concatenate([dm.src[dm.train_idx][list(iter(sampler))] for _ in range(50)])
    assert abs((drawn == 0).mean() - 0.8) < 0.04                          # ~80 % of draws are real
    x, y, w = next(iter(dm.train_dataloader()))
    assert x.dtype == torch.uint8 and x.shape == (20, 3, 32, 32) and w.shape == (20,)


def test_explicit_weights_override_the_defaults(tmp_path):
    a, b = make_folder(tmp_path/"a", n=6), make_folder(tmp_path/"b", n=6, seed=1)
    s = make_sources([a, b], sample_weights=[1, 3], loss_weights=[1, 0.5])
    assert [x.sample_weight for x in s] == [1.0, 3.0] and [x.loss_weight for x in s] == [1.0, 0.5]
    with pytest.raises(RemyxError, match="one of the loss weights per data folder"): make_sources([a, b], loss_weights=[1])


def test_k_shot_is_reproducible_per_seed_and_keeps_synthetic(tmp_path):
    real, synth = make_folder(tmp_path/"real", n=10), make_folder(tmp_path/"synth", n=5, synthetic=True)
    _, recs = scan(make_sources([real, synth]))
    a, b, c = (k_shot(recs, 3, s, real={0}) for s in (0, 0, 1))
    assert a == b and a != c
    assert sum(r[2] == 0 for r in a) == 6 and sum(r[2] == 1 for r in a) == 10
    assert all(sum(r[1] == k and r[2] == 0 for r in a) == 3 for k in (0, 1))


def test_stratified_split_keeps_class_proportions():
    labels = np.array([0]*50 + [1]*20 + [2]*5)
    tr, va = stratified_split(labels, 0.2, seed=3)
    assert np.bincount(labels[va]).tolist() == [10, 4, 1]
    assert len(set(tr) & set(va)) == 0 and len(tr) + len(va) == 75


def test_corrupt_jpeg_is_skipped_with_a_warning(tmp_path):
    real = make_folder(tmp_path/"real", n=5)
    (real/"box"/"zz_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    dm = ImageFolders([real], image_size=32)
    with pytest.warns(UserWarning, match="cannot be decoded"): dm.setup()
    assert dm.skipped == [str(real/"box"/"zz_broken.jpg")] and len(dm.labels) == 10


def test_empty_class_folder_is_a_user_error(tmp_path):
    real = make_folder(tmp_path/"real", n=3); (real/"crate").mkdir()
    with pytest.raises(RemyxError, match="has no images"): ImageFolders([real], image_size=32).setup()


def test_class_with_only_corrupt_files_is_a_user_error(tmp_path):
    real = make_folder(tmp_path/"real", n=3); (real/"crate").mkdir(); (real/"crate"/"a.jpg").write_bytes(b"nope")
    with warnings.catch_warnings(), pytest.raises(RemyxError, match="no readable image"):
        warnings.simplefilter("ignore"); ImageFolders([real], image_size=32).setup()


def test_eval_images_are_the_core_eval_crop(tmp_path):
    from remyx_nb.core import eval_crop, load_rgb
    real = make_folder(tmp_path/"real", n=2)
    dm = ImageFolders([real], image_size=32, val_frac=0); dm.setup()
    p = sorted((real/"box").iterdir())[0]
    diff = np.abs(dm.eval_images()[0].numpy().astype(int) - eval_crop(load_rgb(p), 32).astype(int))
    assert diff.max() == 0   # the same pixels as the evaluation crop the model will see at test time


def test_a_harvested_lake_folder_trains_by_confidence_and_never_validates(tmp_path):
    real, lake = make_folder(tmp_path/"seeds", n=4), make_folder(tmp_path/"harvest", n=12, seed=2)
    conf = {f"{c}/{c}_{j}.jpg": 0.5 + j/24 for c in ("box", "ladder") for j in range(12)}
    (lake/"metadata.jsonl").write_text("".join(json.dumps({"file_name": f, "label": f.split("/")[0], "source": "lake",
                                                           "lake_path": f"/lake/{f}", "confidence": v}) + "\n" for f, v in conf.items()))
    assert [s.kind for s in make_sources([real, lake])] == ["real", "lake"]
    dm = ImageFolders([real, lake], image_size=32, shots=2, val_frac=0.5)
    dm.setup()
    assert (dm.src == 0).sum() == 4 and (dm.src == 1).sum() == 24        # shots draw from the seeds only
    assert (dm.src[dm.val_idx] == 0).all() and not dm.is_real[dm.src == 1].any()
    got = {str(Path(p).relative_to(lake)): w for p, w, s in zip(dm.paths, dm.loss_w, dm.src) if s == 1}
    assert got == pytest.approx(conf)                                     # each lake image's loss weight is its confidence
    assert dm.sample_weights(dm.train_idx) is None                        # photos, seeds or harvested, are drawn alike
    synth = make_folder(tmp_path/"synth", n=6, seed=3, synthetic=True)
    dm = ImageFolders([real, lake, synth], image_size=32, val_frac=0.5); dm.setup()
    share, counts = dm.shares(dm.train_idx)
    assert share[2] == pytest.approx(0.2) and share[0]/share[1] == pytest.approx(counts[0]/counts[1])
