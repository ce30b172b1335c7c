#!/usr/bin/env python3
"""bench/peer_pytorch.py - PyTorch (HF transformers) against qsweep on the same cells.

On a GPU machine: for each cell (model, batch), PyTorch runs the HF model built from
the same config as sweep/models.json with random weights (ViTForImageClassification,
ViTModel, DeiTForImageClassificationWithTeacher, Dinov2Model, BeitModel,
BeitForImageClassification, MobileViTForImageClassification):
  eager fp32 (TF32 off), eager fp16, and fp16 captured in a CUDA graph (torch.cuda.graphs);
median latency over CUDA-event pairs around each iteration. qsweep runs the same cells
through `qsweep bench` when that command works, else through the small vtable driver
build-*/tests/qsweep_gpu_bench (same backend, same timed loop: graph replay, events).

Prints a table (model, batch, precision, torch eager, torch graph, qsweep, ratios) and
the issue's targets; --json writes every number.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_zoo(path):
    with open(path) as f:
        return {m["name"]: m for m in json.load(f)["models"]}


def build_model(entry, torch, T):
    cfg = dict(entry["config"])
    arch = (cfg.pop("architectures", None) or [None])[0]
    mt = cfg.pop("model_type")
    size = cfg.pop("qsweep_input_size", cfg.get("image_size"))
    add_pool = cfg.pop("add_pooling_layer", None)
    conf_cls = {"vit": T.ViTConfig, "deit": T.DeiTConfig, "dinov2": T.Dinov2Config, "beit": T.BeitConfig,
                "mobilevit": T.MobileViTConfig}[mt]
    conf = conf_cls(**cfg)
    cls = getattr(T, arch)
    with torch.device("cuda"):
        if arch == "ViTModel":
            model = cls(conf, add_pooling_layer=bool(add_pool))
        else:
            model = cls(conf)
    model.eval()
    return model, size, cfg.get("num_channels", 3)


def time_cuda(torch, fn, warmup=10, iters=50, budget_s=1.5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    one = max(time.perf_counter() - t0, 1e-5)
    iters = int(max(10, min(iters, budget_s / one)))
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    for i in range(iters):
        starts[i].record()
        fn()
        ends[i].record()
    torch.cuda.synchronize()
    ts = sorted(s.elapsed_time(e) for s, e in zip(starts, ends))
    return ts[len(ts) // 2]


def torch_cell(torch, T, entry, batch):
    res = {}
    model, size, ch = build_model(entry, torch, T)
    gen = torch.Generator(device="cuda").manual_seed(1)
    x32 = torch.rand((batch, ch, size, size), device="cuda", generator=gen) * 2 - 1
    with torch.no_grad():
        res["fp32_eager"] = time_cuda(torch, lambda: model(pixel_values=x32))
        model.half()
        x16 = x32.half()
        res["fp16_eager"] = time_cuda(torch, lambda: model(pixel_values=x16))
        try:  # some HF models copy host tensors in forward, which graph capture refuses
            static = x16.clone()
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    model(pixel_values=static)
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                model(pixel_values=static)
            res["fp16_graph"] = time_cuda(torch, g.replay)
            del g
        except Exception as e:
            res["fp16_graph_error"] = f"{type(e).__name__}: {e}"[:160]
            torch.cuda.synchronize()
    del model
    torch.cuda.empty_cache()
    return res


MEDIAN_RE = re.compile(r"median(?:_ms)?\s*[=:]\s*([0-9.]+)")


def qsweep_cell(build, model, prec, batch):
    """Median ms of one qsweep cell, and where it came from; None if it did not run."""
    qsweep = os.path.join(build, "qsweep")
    if os.path.exists(qsweep):
        try:
            p = subprocess.run([qsweep, "bench", "--model", model, "--precision", prec, "--batch", str(batch),
                                "--backend", "cuda", "--format", "json"], capture_output=True, text=True, timeout=600)
            for line in reversed(p.stdout.splitlines()):
                if line.startswith("{"):
                    row = json.loads(line)
                    if row.get("status") == "ok" and row.get("median_ms") is not None:
                        return float(row["median_ms"]), "qsweep bench", ""
                    if row.get("status") in ("unsupported", "oom", "failed"):
                        return None, "qsweep bench", f"{row.get('status')}: {row.get('message', '')}"[:120]
                    break
        except (OSError, subprocess.TimeoutExpired, ValueError):
            pass
    drv = os.path.join(build, "tests", "qsweep_gpu_bench")
    p = subprocess.run([drv, "--model", model, "--precision", prec, "--batch", str(batch)], capture_output=True,
                       text=True, timeout=600)
    line = next((l for l in p.stdout.splitlines() if l.startswith("RESULT")), "")
    m = MEDIAN_RE.search(line)
    if p.returncode == 0 and m:
        return float(m.group(1)), "qsweep_gpu_bench", line
    msg = re.search(r'message="([^"]*)"', line)
    return None, "qsweep_gpu_bench", (msg.group(1) if msg else (p.stderr.strip() or line))[:120]


def fmt(v):
    return "-" if v is None else f"{v:9.3f}"


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:6.2f}x"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zoo", default=os.path.join(ROOT, "sweep", "models.json"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build-gpu"), help="qsweep build directory")
    ap.add_argument("--models", default="", help="comma-separated subset (default: all 16)")
    ap.add_argument("--batches", default="1,8,32,128", help="batches for vit-base-224-production")
    ap.add_argument("--json", default="", help="write all numbers here")
    ap.add_argument("--quant", action="store_true",
                    help="also time qsweep int8 and nf4 on the same cells (and the ViT-B/L/H at batch 32) "
                         "and print them against qsweep fp32/fp16 and torch eager")
    args = ap.parse_args()

    import torch
    import transformers as T
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    T.logging.set_verbosity_error()

    zoo = load_zoo(args.zoo)
    names = [n for n in args.models.split(",") if n] or list(zoo)
    cells = [(n, 1) for n in names]
    if "vit-base-224-production" in names:
        cells += [("vit-base-224-production", int(b)) for b in args.batches.split(",") if b and int(b) != 1]
    print(f"# device: {torch.cuda.get_device_name(0)}  torch {torch.__version__}  transformers {T.__version__}",
          flush=True)
    rows = []
    for name, batch in cells:
        t = {}
        try:
            t = torch_cell(torch, T, zoo[name], batch)
        except Exception as e:  # a cell that fails is reported, the others go on
            t = {"error": f"{type(e).__name__}: {e}"[:120]}
            torch.cuda.empty_cache()
        q = {}
        for prec in ("fp32", "fp16"):
            ms, how, note = qsweep_cell(args.build, name, prec, batch)
            q[prec] = {"median_ms": ms, "via": how, "note": note}
        rows.append({"model": name, "batch": batch, "torch": t, "qsweep": q})
        print(f"# done {name} b{batch}: torch {t}  qsweep fp32 {q['fp32']['median_ms']} fp16 {q['fp16']['median_ms']}"
              f"{'  (' + q['fp16']['note'] + ')' if q['fp16']['median_ms'] is None else ''}", flush=True)

    hdr = (f"{'model':31s} {'batch':>5s} {'prec':4s} {'torch eager':>11s} {'torch graph':>11s} {'qsweep':>9s} "
           f"{'eager/qsweep':>12s} {'graph/qsweep':>12s}")
    print("\nmedian latency, ms")
    print(hdr)
    print("-" * len(hdr))
    fails = []
    for r in rows:
        for prec in ("fp32", "fp16"):
            te = r["torch"].get(f"{prec}_eager")
            tg = r["torch"].get(f"{prec}_graph")
            qs = r["qsweep"][prec]["median_ms"]
            print(f"{r['model']:31s} {r['batch']:5d} {prec:4s} {fmt(te):>11s} {fmt(tg):>11s} {fmt(qs):>9s} "
                  f"{ratio(te, qs):>12s} {ratio(tg, qs):>12s}")
            if prec == "fp16" and r["batch"] == 1 and qs is not None and te is not None and te / qs < 3.0:
                fails.append(f"{r['model']} fp16 b1: {te / qs:.2f}x faster than torch eager (target 3x)")
    for r in rows:
        err = r["torch"].get("error") or r["torch"].get("fp16_graph_error")
        if err:
            print(f"  note: {r['model']} b{r['batch']}: torch: {err}")
    print("\ntargets:")
    unsup = [r["model"] for r in rows if r["batch"] == 1 and r["qsweep"]["fp16"]["median_ms"] is None]
    ok3 = not fails
    print(f"  every qsweep fp16 b1 cell >= 3x faster than torch eager fp16: {'yes' if ok3 else 'NO'}"
          + (f" (not run by qsweep: {', '.join(unsup)})" if unsup else ""))
    for f in fails:
        print("   ", f)
    vb = next((r for r in rows if r["model"] == "vit-base-224-production" and r["batch"] == 1), None)
    if vb:
        qs, tg = vb["qsweep"]["fp16"]["median_ms"], vb["torch"].get("fp16_graph")
        ok = qs is not None and tg is not None and qs < tg
        print(f"  vit-base-224-production fp16 b1 faster than torch fp16 + CUDA graph: {'yes' if ok else 'NO'} "
              f"({fmt(qs).strip()} vs {fmt(tg).strip()} ms)")
    quant = quant_table(args, rows) if args.quant else []
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(0), "rows": rows, "quant": quant}, f, indent=1)


def quant_table(args, rows):
    """qsweep int8 / nf4 next to qsweep fp32 / fp16 and torch eager, with the issue's targets."""
    cells = [(r["model"], r["batch"]) for r in rows]
    for vit in ("vit-base-224-production", "vit-large-patch16-2020", "vit-huge-patch14-2020"):
        if (vit, 32) not in cells:
            cells.append((vit, 32))
    by_cell = {(r["model"], r["batch"]): r for r in rows}
    out = []
    for name, batch in cells:
        r = by_cell.get((name, batch))
        q = {p: (r["qsweep"][p]["median_ms"] if r else None) for p in ("fp32", "fp16")}
        for prec in ("fp32", "fp16", "int8", "nf4"):
            if q.get(prec) is None:
                q[prec] = qsweep_cell(args.build, name, prec, batch)[0]
        te = r["torch"].get("fp32_eager") if r else None
        out.append({"model": name, "batch": batch, "qsweep": q, "torch_fp32_eager": te})
        print(f"# quant {name} b{batch}: {q}", flush=True)
    hdr = (f"{'model':31s} {'batch':>5s} {'fp32':>9s} {'fp16':>9s} {'int8':>9s} {'nf4':>9s} "
           f"{'int8 vs fp32':>12s} {'nf4 vs fp32':>12s} {'torch fp32/int8':>15s}")
    print("\nqsweep quantized cells, median latency, ms")
    print(hdr)
    print("-" * len(hdr))
    slow = []
    for c in out:
        q = c["qsweep"]
        print(f"{c['model']:31s} {c['batch']:5d} {fmt(q['fp32'])} {fmt(q['fp16'])} {fmt(q['int8'])} {fmt(q['nf4'])} "
              f"{ratio(q['fp32'], q['int8']):>12s} {ratio(q['fp32'], q['nf4']):>12s} "
              f"{ratio(c['torch_fp32_eager'], q['int8']):>15s}")
        if c["batch"] == 1:
            for p in ("int8", "nf4"):
                if q[p] is None or q["fp32"] is None or q[p] >= q["fp32"]:
                    slow.append(f"{c['model']} {p} b1 ({fmt(q[p]).strip()} vs fp32 {fmt(q['fp32']).strip()} ms)")
    print("\ntargets (quantized):")
    print(f"  every int8 and nf4 cell at batch 1 faster than its fp32 cell: {'yes' if not slow else 'NO'}")
    for m in slow:
        print("   ", m)
    for c in out:
        if c["batch"] == 32:
            q = c["qsweep"]
            ok = q["int8"] is not None and q["fp16"] is not None and q["int8"] < q["fp16"]
            print(f"  {c['model']} b32 int8 faster than fp16: {'yes' if ok else 'NO'} "
                  f"({fmt(q['int8']).strip()} vs {fmt(q['fp16']).strip()} ms)")
    return out


if __name__ == "__main__":
    sys.exit(main())
