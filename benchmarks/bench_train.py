"""Training speed, printed as JSON (figures side by side, ratios in the same run).

CPU (default): time-to-model on this machine's cores for the trainer (`train.train`: the recipe search by
cross-validation, then the chosen head) beside the linear probe it is held against (centre-crop features + logistic
regression, as `shared/tools/linear_probe_baseline.py`), with test accuracy and the time ratio (the trainer's time
includes its stage-2 CPU fine-tune when `--finetune` is `always`, or `auto` and the head's CV error calls for it); a naive full fine-tune
(all layers, JPEGs decoded every step) for scale; and the data loader: decoded-uint8 cache vs decoding JPEGs per step.

    nice .venv/bin/python benchmarks/bench_train.py                      # forklift_person from ../shared/datasets
    nice .venv/bin/python benchmarks/bench_train.py --data DIR --test DIR --naive-images 128

GPU (`--gpu`): the Lightning loop (`train.LitClassifier` + `Trainer`) vs a bare PyTorch loop of the same network, batch,
precision (bf16 autocast), channels_last, optimiser and loss, in one run: images/s and their ratio; `--compile` adds
torch.compile to both. Random uint8 images unless `--data` is given (then its decoded-uint8 cache is used). Needs only
torch, pytorch-lightning and this repo.

    python benchmarks/bench_train.py --gpu [--compile] [--batch-size 256] [--steps 60] [--data DIR]
"""
from __future__ import annotations
import argparse, json, os, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent/"shared"/"datasets"


def _sync(dev):
    if dev.type == "cuda": torch.cuda.synchronize()


def _uint8_images(data, n, size, seed=0):
    "N×3×S×S uint8 images: decoded from `data` through the DataModule's cache, or random."
    if data is None:
        g = torch.Generator().manual_seed(seed)
        return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8), torch.randint(0, 2, (n,), generator=g)
    from remyx_nb.data import ImageFolders
    dm = ImageFolders([data], image_size=size, val_frac=0); dm.setup()
    x = dm.eval_images().permute(0, 3, 1, 2).contiguous(); y = torch.as_tensor(dm.labels)
    reps = -(-n//len(x))
    return x.repeat(reps, 1, 1, 1)[:n], y.repeat(reps)[:n]


def _loader(x, y, batch_size, workers):
    from torch.utils.data import DataLoader, TensorDataset
    ds = TensorDataset(x, y, torch.ones(len(y)))
    return DataLoader(ds, batch_size, shuffle=True, drop_last=True, num_workers=workers, pin_memory=torch.cuda.is_available(),
                      persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))


def bench_bare(x, y, a, dev):
    "A bare PyTorch loop: the same Classifier, loss, AdamW, bf16 autocast and channels_last as the Lightning run."
    from remyx_nb.train import LitClassifier
    torch.manual_seed(0)
    lit = LitClassifier([str(i) for i in range(int(y.max()) + 1)], a.image_size, pretrained=False, channels_last=True)
    net = lit.net.to(dev).to(memory_format=torch.channels_last).train()
    fwd = torch.compile(net) if a.compile else net
    mean, std = lit.mean.to(dev), lit.std.to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=1e-2)
    it, n, t0 = iter(_loader(x, y, a.batch_size, a.workers)), 0, None
    for step in range(a.warmup + a.steps):
        if step == a.warmup: _sync(dev); t0 = time.perf_counter()
        try: xb, yb, wb = next(it)
        except StopIteration: it = iter(_loader(x, y, a.batch_size, a.workers)); xb, yb, wb = next(it)
        xb, yb, wb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True), wb.to(dev, non_blocking=True)
        xb = ((xb.float()/255 - mean)/std).contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.bf16):
            logits = fwd(xb)
        loss = (F.cross_entropy(logits.float(), yb, reduction="none")*wb).sum()/wb.sum()
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        if step >= a.warmup: n += len(yb)
    _sync(dev)
    return n/(time.perf_counter() - t0)


def bench_lightning(x, y, a, dev):
    "The project's LightningModule under a Lightning Trainer; timed from the end of warm-up to the end of fit."
    import pytorch_lightning as pl
    from remyx_nb.train import LitClassifier, _quiet
    _quiet(); torch.manual_seed(0)

    class Timer(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == a.warmup: _sync(dev); self.t0 = time.perf_counter()
        def on_train_end(self, trainer, pl_module): _sync(dev); self.t1 = time.perf_counter()

    lit = LitClassifier([str(i) for i in range(int(y.max()) + 1)], a.image_size, pretrained=False,
                        channels_last=dev.type == "cuda", compile=a.compile, lr=1e-4, backbone_lr=1e-4)

    lit.configure_optimizers = lambda: torch.optim.AdamW(lit.net.parameters(), lr=1e-4, weight_decay=1e-2)
    lit.log = lambda *args, **kw: None   # the bare loop logs nothing either
    timer = Timer()
    tr = pl.Trainer(accelerator="gpu" if dev.type == "cuda" else "cpu", devices=1, max_steps=a.warmup + a.steps,
                    precision="bf16-mixed" if a.bf16 else "32-true", logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False, callbacks=[timer], limit_val_batches=0)
    if dev.type == "cuda": lit = lit.to(memory_format=torch.channels_last)
    tr.fit(lit, _loader(x, y, a.batch_size, a.workers))
    return a.steps*a.batch_size/(timer.t1 - timer.t0)


def gpu_mode(a):
    dev = torch.device("cuda" if torch.cuda.is_available() and not a.cpu else "cpu")
    n = a.batch_size*(a.warmup + a.steps)  # one epoch: no loader restart inside the timed steps
    x, y = _uint8_images(a.data, n, a.image_size)
    res = {"mode": "gpu", "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
           "batch_size": a.batch_size, "image_size": a.image_size, "bf16": a.bf16, "channels_last": dev.type == "cuda",
           "compile": a.compile, "steps": a.steps, "warmup": a.warmup, "data": str(a.data) if a.data else "random uint8",
           "torch": torch.__version__}
    import pytorch_lightning as pl; res["lightning"] = pl.__version__
    order = ["bare", "lightning", "bare", "lightning"] if a.repeat else ["bare", "lightning"]
    got = {"bare": [], "lightning": []}
    for k in order: got[k].append((bench_bare if k == "bare" else bench_lightning)(x, y, a, dev))
    res["bare_img_s"] = round(max(got["bare"]), 1); res["lightning_img_s"] = round(max(got["lightning"]), 1)
    res["lightning_over_bare"] = round(res["lightning_img_s"]/res["bare_img_s"], 3)
    res["runs"] = {k: [round(v, 1) for v in vs] for k, vs in got.items()}
    return res


def _naive_fine_tune(data, test, a):
    "All layers trainable, each image decoded from JPEG and augmented every step, same Lightning loop."
    import pytorch_lightning as pl
    from torch.utils.data import Dataset, DataLoader
    from remyx_nb.core import image_folder, load_rgb
    from remyx_nb.data import square, cache_side, train_transform
    from remyx_nb.train import LitClassifier, set_trainable, _quiet
    _quiet()
    classes, items = image_folder(data)
    rng = np.random.default_rng(0); items = [items[i] for i in rng.permutation(len(items))[:a.naive_images]]
    tf = train_transform(a.image_size); side = cache_side(a.image_size)

    class Jpegs(Dataset):
        def __len__(self): return len(items)
        def __getitem__(self, i):
            p, c = items[i]; x = tf(image=square(load_rgb(p), side, a.image_size))["image"]
            return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1), c, torch.tensor(1.0)

    torch.manual_seed(0)
    lit = LitClassifier(classes, a.image_size, lr=1e-3, backbone_lr=1e-4); set_trainable(lit.net.backbone, 99)
    t = time.perf_counter()
    tr = pl.Trainer(accelerator="cpu", max_epochs=a.naive_epochs, logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    tr.fit(lit, DataLoader(Jpegs(), 32, shuffle=True))
    dt = time.perf_counter() - t
    res = {"images": len(items), "epochs": a.naive_epochs, "time_s": round(dt, 1),
           "img_s": round(len(items)*a.naive_epochs/dt, 2)}
    if test is not None:
        from remyx_nb.evaluate import predict_folder
        yt, yp, _, _ = predict_folder(lit.net.eval(), {"labels": classes, "image_size": a.image_size}, test)
        res["test_accuracy"] = round(float((yt == yp).mean()), 4)
    return res


def _loader_speed(data, a):
    "Images/s of the training loader (augmentation included): decoded-uint8 cache vs a JPEG decode every step."
    from remyx_nb.core import image_folder, load_rgb
    from remyx_nb.data import ImageFolders, square, cache_side, train_transform
    dm = ImageFolders([data], image_size=a.image_size, val_frac=0, batch_size=32)
    t = time.perf_counter(); dm.setup(); decode_once = time.perf_counter() - t
    t = time.perf_counter(); n = sum(len(b[1]) for b in dm.train_dataloader()); cached = n/(time.perf_counter() - t)
    _, items = image_folder(data); tf, side = train_transform(a.image_size), cache_side(a.image_size)
    t = time.perf_counter()
    for p, _ in items: tf(image=square(load_rgb(p), side, a.image_size))
    jpeg = len(items)/(time.perf_counter() - t)
    return {"images": n, "decode_once_s": round(decode_once, 2), "cached_img_s": round(cached, 1),
            "jpeg_each_step_img_s": round(jpeg, 1), "cached_over_jpeg": round(cached/jpeg, 2)}


def _probe(data, test, a):
    "The baseline: frozen centre-crop features + LogisticRegression(C=1), timed from the JPEGs to a fitted model."
    from sklearn.linear_model import LogisticRegression
    from remyx_nb.backbones import create_backbone
    from bench_recipes import probe_features  # the same probe features bench_recipes holds the trainer against
    net = create_backbone()
    t = time.perf_counter()
    X, y = probe_features(data, net, a.image_size); clf = LogisticRegression(max_iter=3000, C=1.0).fit(X, y)
    res = {"images": len(y), "time_to_model_s": round(time.perf_counter() - t, 1)}
    if test is not None:
        Xt, yt = probe_features(test, net, a.image_size); res["test_accuracy"] = round(float((clf.predict(Xt) == yt).mean()), 4)
    return res


def cpu_mode(a):
    from remyx_nb.train import train
    from remyx_nb.evaluate import predict_folder
    from remyx_nb.train import load_model
    data = a.data or SHARED/"forklift_person"/"train"; test = a.test or (SHARED/"forklift_person"/"test" if a.data is None else None)
    res = {"mode": "cpu", "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "data": str(data),
           "load_avg_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        m = train([data], Path(tmp)/"model", seed=0, image_size=a.image_size, finetune_epochs=0, time_budget=a.time_budget,
                  finetune=a.finetune)
        dt = time.perf_counter() - t
        n = m["n_train"] + m["n_val"]
        cached = {"images": n, "time_to_model_s": round(dt, 1), "img_s": round(n/dt, 1), "phases_s": m["times"]}
        if test is not None:
            model, info = load_model(Path(tmp)/"model")
            yt, yp, _, _ = predict_folder(model, info, test); cached["test_accuracy"] = round(float((yt == yp).mean()), 4)
    res["trainer"] = {**cached, "recipe": m["recipe"]["name"], "selection": m["selection"], "kept": m["kept"],
                      "finetune": m["finetune"]["why"]}
    res["linear_probe"] = probe = _probe(data, test, a)
    res["time_ratio_trainer_over_probe"] = round(cached["time_to_model_s"]/probe["time_to_model_s"], 2)
    if a.no_naive: return res
    naive = _naive_fine_tune(data, test, a)
    naive["projected_time_per_epoch_all_images_s"] = round(cached["images"]/naive["img_s"], 1)
    res["naive_full_finetune"] = naive
    res["img_s_ratio_cached_over_naive"] = round(cached["img_s"]/naive["img_s"], 1)
    res["loader"] = _loader_speed(data, a)
    res["load_avg_end"] = os.getloadavg()[0]
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gpu", action="store_true", help="Lightning vs bare loop images/s (on CUDA when available)")
    p.add_argument("--cpu", action="store_true", help="with --gpu: run the comparison on the CPU (a smoke test)")
    p.add_argument("--data", type=Path, default=None, help="image folder <class>/<image>")
    p.add_argument("--test", type=Path, default=None, help="real test folder for accuracy (CPU mode)")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=60, help="timed steps (GPU mode)")
    p.add_argument("--warmup", type=int, default=15, help="untimed steps first (GPU mode)")
    p.add_argument("--workers", type=int, default=8, help="DataLoader workers (GPU mode)")
    p.add_argument("--no-bf16", dest="bf16", action="store_false")
    p.add_argument("--compile", action="store_true", help="torch.compile both loops")
    p.add_argument("--repeat", action="store_true", help="run bare, lightning, bare, lightning and keep the best of each")
    p.add_argument("--naive-images", type=int, default=160, help="images for the naive fine-tune (CPU mode)")
    p.add_argument("--naive-epochs", type=int, default=1)
    p.add_argument("--no-naive", action="store_true", help="CPU mode: only the trainer and the probe")
    p.add_argument("--time-budget", type=float, default=None, help="the trainer's search budget (default: its own)")
    p.add_argument("--finetune", default="auto", choices=("auto", "off", "always"), help="the trainer's CPU fine-tune (stage 2)")
    a = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    res = gpu_mode(a) if a.gpu else cpu_mode(a)
    print(json.dumps(res, indent=1))
    return res


if __name__ == "__main__": main()
