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

--peers bnb,torchao adds the quantization libraries a user would pick instead of qsweep, on
the cells --quant-models x --quant-batches, next to qsweep int8 / nf4 on the same cells:
  bnb      bitsandbytes LLM.int8 (Linear8bitLt, threshold 6.0) and NF4 (Linear4bit, block 64,
           fp32 absmax, fp16 compute), eager, model otherwise fp16 (as the seed study ran them);
  torchao  int8 W8A8 (Int8DynamicActivationInt8WeightConfig: per-token dynamic int8
           activations, per-channel int8 weights) + torch.compile (--compile-mode), fp16;
           with --fp8 also fp8 e4m3 rowwise (Float8DynamicActivationFloat8WeightConfig,
           PerRow) + torch.compile, bf16.
Only the Linear layers of the encoder blocks are quantized (q, k, v, attention output,
FC1, FC2), as in qsweep. Each (peer, model) runs in a child process; a cell that fails
or passes --peer-cell-s is shown '-' with one line saying why, and the run goes on.
Fidelity is the cosine against the fp32 HF model on the same input (the output qsweep
compares: logits, pooler output or the CLS token). --peers-only skips the fp32/fp16 table.
"""
import argparse
import importlib.util
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
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
    r = qsweep_row(build, model, prec, batch)
    return r["median_ms"], r["via"], r["note"]


def qsweep_row(build, model, prec, batch):
    """One qsweep cell: median ms (None if it did not run), cosine against its fp32 output when
    `qsweep bench` gave one, where it came from, and a note."""
    qsweep = os.path.join(build, "qsweep")
    if os.path.exists(qsweep):
        try:
            p = subprocess.run([qsweep, "bench", "--model", model, "--precision", prec, "--batch", str(batch),
                                "--backend", "cuda", "--format", "json"], capture_output=True, text=True, timeout=600)
            for line in reversed(p.stdout.splitlines()):
                if line.startswith("{"):
                    row = json.loads(line)
                    cos = row.get("cosine")
                    cos = float(cos) if isinstance(cos, (int, float)) else None
                    if row.get("status") == "ok" and row.get("median_ms") is not None:
                        return {"median_ms": float(row["median_ms"]), "cosine": cos, "via": "qsweep bench", "note": ""}
                    if row.get("status") in ("unsupported", "oom", "failed"):
                        return {"median_ms": None, "cosine": None, "via": "qsweep bench",
                                "note": f"{row.get('status')}: {row.get('message', '')}"[:120]}
                    break
        except (OSError, subprocess.TimeoutExpired, ValueError):
            pass
    drv = os.path.join(build, "tests", "qsweep_gpu_bench")
    try:
        p = subprocess.run([drv, "--model", model, "--precision", prec, "--batch", str(batch)], capture_output=True,
                           text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"median_ms": None, "cosine": None, "via": "qsweep_gpu_bench", "note": f"{type(e).__name__}: {e}"[:120]}
    line = next((l for l in p.stdout.splitlines() if l.startswith("RESULT")), "")
    m = MEDIAN_RE.search(line)
    if p.returncode == 0 and m:
        return {"median_ms": float(m.group(1)), "cosine": None, "via": "qsweep_gpu_bench", "note": line}
    msg = re.search(r'message="([^"]*)"', line)
    return {"median_ms": None, "cosine": None, "via": "qsweep_gpu_bench",
            "note": (msg.group(1) if msg else (p.stderr.strip() or line))[:120]}


def fmt(v):
    return "-" if v is None else f"{v:9.3f}"


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:6.2f}x"


# ---- quantization peers (--peers): bitsandbytes and torchao on qsweep's int8 / nf4 cells ----

QUANT_VITS = ("vit-base-224-production", "vit-large-patch16-2020", "vit-huge-patch14-2020")
PEER_PRECS = {"bnb": ("int8", "nf4"), "torchao": ("int8", "fp8")}  # torchao fp8 only with --fp8
PEER_MODULES = {"bnb": "bitsandbytes", "torchao": "torchao"}
CHILD_START_S = 60  # allowance for a child's start (imports, fp32 model, peer model) on top of a cell's budget
# the Linear layers qsweep quantizes: those inside an encoder block. transformers 5 names them
# vit.layers.N.attention.{q,k,v,o}_proj / .mlp.fc1 / .mlp.fc2 (ViT, DeiT, BEiT: `layers.N.`),
# encoder.layer.N.attention.attention.{query,key,value} / .attention.output.dense / .mlp.fc1/fc2
# (DINOv2), mobilevit.encoder.layer.N.transformer.layer.M.* (MobileViT, whose other stages hold
# only convolutions); transformers 4 used encoder.layer.N.* throughout. Not the patch embedding
# (a Conv2d), not the pooler, not the classifier heads.
ENCODER_LINEAR_RE = re.compile(r"(^|\.)(layers|layer)\.\d+\.")


def is_encoder_linear(nn, mod, fqn):
    return isinstance(mod, nn.Linear) and ENCODER_LINEAR_RE.search(fqn) is not None


def head_output(out):
    """The tensor qsweep compares for fidelity: logits (classifiers, DeiT's averaged heads),
    else the pooler output (ViT in21k, BEiT, DINOv2), else the CLS token of the last hidden state."""
    for k in ("logits", "pooler_output"):
        v = getattr(out, k, None)
        if v is not None:
            return v
    return out.last_hidden_state[:, 0]


def cosine(torch, ref, out):
    a, b = ref.double().flatten(), out.double().flatten()
    if not bool(torch.isfinite(b).all()):
        return float("nan")
    return float((a @ b) / (a.norm() * b.norm()))


def bnb_quantize(torch, bnb, model, prec):
    """Replaces the encoder Linear layers of the fp16 `model` (on the GPU) by bitsandbytes layers, as
    HF transformers' bitsandbytes integration does: built on the meta device, the fp16 weight given on
    the host, moved to the GPU (where bitsandbytes quantizes it). Returns how many were replaced."""
    nn = torch.nn
    todo = [(n, m) for n, m in model.named_modules() if is_encoder_linear(nn, m, n)]
    for name, lin in todo:
        w = lin.weight.detach().to("cpu", torch.float16)
        has_bias = lin.bias is not None
        if prec == "int8":  # LLM.int8: int8 rows with absmax scales, fp16 outlier columns at |x| >= 6.0
            q = bnb.nn.Linear8bitLt(lin.in_features, lin.out_features, bias=has_bias, has_fp16_weights=False,
                                    threshold=6.0, device="meta")
            q.weight = bnb.nn.Int8Params(w, requires_grad=False, has_fp16_weights=False)
        else:  # NF4, blocks of 64, fp32 absmax (no double quantization), fp16 compute
            q = bnb.nn.Linear4bit(lin.in_features, lin.out_features, bias=has_bias, compute_dtype=torch.float16,
                                  compress_statistics=False, quant_type="nf4", quant_storage=torch.uint8,
                                  device="meta")
            q.weight = bnb.nn.Params4bit(w, requires_grad=False, blocksize=64, compress_statistics=False,
                                         quant_type="nf4", quant_storage=torch.uint8, module=q)
        if has_bias:
            q.bias = nn.Parameter(lin.bias.detach().to("cpu", torch.float16), requires_grad=False)
        q = q.cuda().eval()
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent), attr, q)
    return len(todo)


def peer_child(spec):
    """One (peer, model) in a process of its own: builds the fp32 HF model once, then per precision the
    peer's model, and per batch prints one line 'PEER {json}' (median ms, cosine vs fp32, compile s)."""
    def emit(**kw):
        print("PEER " + json.dumps(kw), flush=True)

    peer, name, cells = spec["peer"], spec["model"], [tuple(c) for c in spec["cells"]]
    try:
        import copy
        import torch
        import transformers as T
        lib = __import__(PEER_MODULES[peer])
        if peer == "torchao":
            from torchao.quantization import (Float8DynamicActivationFloat8WeightConfig,
                                              Int8DynamicActivationInt8WeightConfig, PerRow, quantize_)
        version = getattr(lib, "__version__", "?")
    except Exception as e:  # a missing or broken library: one line, every cell '-'
        emit(fatal=f"{type(e).__name__}: {e}"[:200])
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    T.logging.set_verbosity_error()
    for k in ("recompile_limit", "cache_size_limit"):  # one compiled graph per batch; the name changed in torch 2.7
        if hasattr(torch._dynamo.config, k):
            setattr(torch._dynamo.config, k, max(getattr(torch._dynamo.config, k), 64))
            break
    nn = torch.nn
    try:
        torch.manual_seed(0)
        base, size, ch = build_model(load_zoo(spec["zoo"])[name], torch, T)
    except Exception as e:  # this model only
        for prec, b in cells:
            emit(prec=prec, batch=b, error=f"fp32 model: {type(e).__name__}: {e}"[:200], version=version)
        return 0
    refs = {}

    def inputs(batch):  # as torch_cell: uniform in [-1, 1), never zeros; the fp32 output once per batch
        gen = torch.Generator(device="cuda").manual_seed(1)
        x32 = torch.rand((batch, ch, size, size), device="cuda", generator=gen) * 2 - 1
        if batch not in refs:
            with torch.no_grad():
                refs[batch] = head_output(base(pixel_values=x32)).float().clone()
        return x32, refs[batch]

    precs = []
    for prec, _ in cells:
        if prec not in precs:
            precs.append(prec)
    for prec in precs:
        batches = [b for p, b in cells if p == prec]
        model = fn_model = None
        dtype = torch.bfloat16 if prec == "fp8" else torch.float16
        try:
            t0 = time.perf_counter()
            model = copy.deepcopy(base).to(dtype).eval()
            if peer == "bnb":
                nq = bnb_quantize(torch, lib, model, prec)
                fn_model = model
            else:
                cfg = (Int8DynamicActivationInt8WeightConfig() if prec == "int8"
                       else Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()))
                nq = sum(1 for n, m in model.named_modules() if is_encoder_linear(nn, m, n))
                quantize_(model, cfg, filter_fn=lambda m, fqn: is_encoder_linear(nn, m, fqn))
                fn_model = torch.compile(model, mode=None if spec["compile_mode"] == "default" else spec["compile_mode"],
                                         dynamic=False)
            if nq == 0:
                raise RuntimeError("no encoder Linear layer found to quantize")
            torch.cuda.synchronize()
            prep_s = time.perf_counter() - t0
        except Exception as e:
            for b in batches:
                emit(prec=prec, batch=b, error=f"{type(e).__name__}: {e}"[:200], version=version)
            model = fn_model = None
            torch.cuda.empty_cache()
            continue
        for b in batches:
            rec = {"prec": prec, "batch": b, "version": version, "quantized_linears": nq, "prep_s": round(prep_s, 2)}
            try:
                x32, ref = inputs(b)
                x = x32.to(dtype)
                with torch.no_grad():
                    compile_s = None
                    if peer == "torchao":  # compile (and, with cudagraphs, record) before anything is timed
                        t0 = time.perf_counter()
                        for _ in range(3):
                            fn_model(pixel_values=x)
                        torch.cuda.synchronize()
                        compile_s = time.perf_counter() - t0
                    out = head_output(fn_model(pixel_values=x)).float().clone()
                    torch.cuda.synchronize()
                    rec["cosine"] = cosine(torch, ref, out)
                    del out
                    rec["median_ms"] = time_cuda(torch, lambda: fn_model(pixel_values=x))
                    rec["compile_s"] = None if compile_s is None else round(compile_s, 2)
            except Exception as e:
                rec["error"] = f"{type(e).__name__}: {e}"[:200]
                try:
                    torch.cuda.synchronize()
                except Exception:
                    pass
            emit(**rec)
        model = fn_model = None
        if peer == "torchao":
            torch._dynamo.reset()
        torch.cuda.empty_cache()
    return 0


def run_peer(args, peer, name, cells, log):
    """The cells [(prec, batch)] of one (peer, model), in child processes: a cell that has not reported
    within --peer-cell-s (plus CHILD_START_S for the first of a child) is killed and shown '-', and a
    new child takes the rest; a child that dies costs only the cell it was on. Returns
    {(prec, batch): record} and the library's fatal error, if any."""
    res, todo, fatal = {}, list(cells), None
    while todo:
        spec = {"peer": peer, "model": name, "cells": todo, "zoo": args.zoo, "compile_mode": args.compile_mode}
        log.write(f"\n==== {peer} {name} {todo}\n")
        log.flush()
        p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--zoo", args.zoo, "--_child", json.dumps(spec)],
                             stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        lines = queue.Queue()

        def reader(f=p.stdout, q=lines):
            for line in f:
                q.put(line)
            q.put(None)

        threading.Thread(target=reader, daemon=True).start()
        t_cell = time.monotonic()
        deadline = t_cell + args.peer_cell_s + CHILD_START_S
        why = None
        while True:
            try:
                line = lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                why = f"no result within {time.monotonic() - t_cell:.0f} s (--peer-cell-s {args.peer_cell_s:g}); killed"
                try:
                    os.killpg(p.pid, signal.SIGKILL)  # the child and the compile workers it started
                except OSError:
                    pass
                break
            if line is None:
                break
            if not line.startswith("PEER "):
                continue
            r = json.loads(line[5:])
            if "fatal" in r:
                fatal = r["fatal"]
                for c in todo:
                    res[c] = {"error": fatal}
                todo = []
                break
            c = (r["prec"], r["batch"])
            res[c] = r
            if c in todo:
                todo.remove(c)
            peer_line(peer, name, r)
            t_cell = time.monotonic()
            deadline = t_cell + args.peer_cell_s
        p.wait()
        if todo:  # the cell it was on timed out or took the child down
            c = todo.pop(0)
            res[c] = {"prec": c[0], "batch": c[1], "error": why or f"child exited with {p.returncode} on this cell"}
            peer_line(peer, name, res[c])
    return res, fatal


def peer_line(peer, name, r):
    if r.get("error"):
        print(f"# peer {peer} {r.get('prec')} {name} b{r.get('batch')}: failed: {r['error']}", flush=True)
    else:
        cs = f", compile {r['compile_s']:.1f} s" if r.get("compile_s") is not None else ""
        print(f"# peer {peer} {r['prec']} {name} b{r['batch']}: {r['median_ms']:.3f} ms, cosine {r['cosine']:.6f}"
              f"{cs} (prep {r['prep_s']:.1f} s, {r['quantized_linears']} Linear layers)", flush=True)


def peer_table(args, rows, quant):
    """qsweep int8 / nf4 against bitsandbytes and torchao on the cells --quant-models x --quant-batches."""
    peers = [p for p in args.peers.split(",") if p]
    precs = ["int8", "nf4"] + (["fp8"] if args.fp8 else [])
    models = [m for m in args.quant_models.split(",") if m]
    batches = [int(b) for b in args.quant_batches.split(",") if b]
    known = {(r["model"], r["batch"], p): {"median_ms": r["qsweep"][p]["median_ms"], "cosine": None,
                                           "via": r["qsweep"][p]["via"], "note": r["qsweep"][p]["note"]}
             for r in rows for p in ("fp32", "fp16")}
    for c in quant:
        for p in ("int8", "nf4"):
            if c["qsweep"].get(p) is not None:
                known.setdefault((c["model"], c["batch"], p), {"median_ms": c["qsweep"][p], "cosine": None,
                                                               "via": "--quant", "note": ""})
    out, versions, fatal = [], {}, {}
    for peer in peers:
        if importlib.util.find_spec(PEER_MODULES[peer]) is None:
            fatal[peer] = f"no module '{PEER_MODULES[peer]}' (PYTHONPATH=.peers/site?)"
            print(f"# peer {peer}: not importable: {fatal[peer]}; its cells are '-'", flush=True)
    log_path = args.peer_log or os.path.join(tempfile.gettempdir(), f"qsweep_peers_{os.getpid()}.log")
    n_cells = sum(1 for peer in peers if peer not in fatal for p in precs if p in PEER_PRECS[peer]) * len(batches) * len(models)
    n_children = sum(1 for peer in peers if peer not in fatal) * len(models)
    print(f"# peers {','.join(peers)} on {len(models)} models x batches {batches}, precisions {precs}; "
          f"torch.compile mode {args.compile_mode}; {n_cells} peer cells, each <= {args.peer_cell_s:g} s "
          f"(+{CHILD_START_S} s for each of {n_children} child starts): at most "
          f"{n_cells * args.peer_cell_s + n_children * CHILD_START_S:.0f} s besides the qsweep cells; "
          f"child logs in {log_path}", flush=True)
    t_all = time.perf_counter()
    with open(log_path, "a") as log:
        for name in models:
            q = {}
            for b in batches:
                for p in ["fp16", "int8", "nf4"]:
                    q[(b, p)] = known.get((name, b, p)) or qsweep_row(args.build, name, p, b)
                print(f"# qsweep {name} b{b}: " + "  ".join(f"{p} {fmt(q[(b, p)]['median_ms']).strip()}"
                                                         for p in ("fp16", "int8", "nf4")), flush=True)
            got = {}
            for peer in peers:
                cells = [(p, b) for p in precs if p in PEER_PRECS[peer] for b in batches]
                if peer in fatal:
                    got[peer] = {c: {"error": fatal[peer]} for c in cells}
                    continue
                t0 = time.perf_counter()
                got[peer], f = run_peer(args, peer, name, cells, log)
                if f:
                    fatal[peer] = f
                    print(f"# peer {peer}: unavailable: {f}", flush=True)
                for r in got[peer].values():
                    if r.get("version"):
                        versions[peer] = r["version"]
                print(f"# peer {peer} {name}: {time.perf_counter() - t0:.0f} s", flush=True)
            for b in batches:
                for p in precs:
                    qs = q.get((b, p)) or {"median_ms": None, "cosine": None, "via": "", "note": "no such qsweep precision"}
                    row = {"model": name, "batch": b, "precision": p, "qsweep": qs,
                           "qsweep_fp16_ms": q[(b, "fp16")]["median_ms"]}
                    for peer in ("bnb", "torchao"):
                        if peer in peers and p in PEER_PRECS[peer] and (p, b) in got.get(peer, {}):
                            row[peer] = got[peer][(p, b)]
                    out.append(row)
    total_s = time.perf_counter() - t_all

    def ms(r, peer):
        return (r.get(peer) or {}).get("median_ms")

    def cos(v):
        return "-" if v is None or v != v else f"{v:.5f}"

    print(f"\nquantization peers, median latency, ms (ratios: peer ms / qsweep ms, > 1 means qsweep is faster); "
          f"cosine vs the fp32 torch model; torch.compile mode {args.compile_mode}")
    hdr = (f"{'model':31s} {'batch':>5s} {'prec':4s} {'qs fp16':>9s} {'qsweep':>9s} {'bnb':>9s} {'torchao':>9s} "
           f"{'bnb/qsweep':>10s} {'ao/qsweep':>10s} {'cos qsweep':>10s} {'cos bnb':>10s} {'cos ao':>10s} "
           f"{'compile s':>9s}")
    print(hdr)
    print("-" * len(hdr))
    for r in out:
        qs = r["qsweep"]["median_ms"]
        ao = r.get("torchao") or {}
        cs = ao.get("compile_s")
        print(f"{r['model']:31s} {r['batch']:5d} {r['precision']:4s} {fmt(r['qsweep_fp16_ms']):>9s} {fmt(qs):>9s} "
              f"{fmt(ms(r, 'bnb')):>9s} {fmt(ms(r, 'torchao')):>9s} {ratio(ms(r, 'bnb'), qs):>10s} "
              f"{ratio(ms(r, 'torchao'), qs):>10s} {cos(r['qsweep'].get('cosine')):>10s} "
              f"{cos((r.get('bnb') or {}).get('cosine')):>10s} {cos(ao.get('cosine')):>10s} "
              f"{'-' if cs is None else f'{cs:9.1f}':>9s}")
    for r in out:
        for peer in ("bnb", "torchao"):
            e = (r.get(peer) or {}).get("error")
            if e and peer not in fatal:
                print(f"  note: {r['model']} b{r['batch']} {r['precision']}: {peer}: {e}")
        if r["qsweep"]["median_ms"] is None and r["precision"] != "fp8":
            print(f"  note: {r['model']} b{r['batch']} {r['precision']}: qsweep: {r['qsweep']['note']}")
    for peer, f in fatal.items():
        print(f"  note: {peer} unavailable: {f}")
    print(f"peer part: {total_s:.0f} s" + "".join(f"; {k} {v}" for k, v in versions.items()))
    return {"compile_mode": args.compile_mode, "peer_cell_s": args.peer_cell_s, "versions": versions,
            "unavailable": fatal, "seconds": round(total_s, 1), "cells": out}


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
    g = ap.add_argument_group("quantization peers")
    g.add_argument("--peers", default="", help="comma-separated: bnb (bitsandbytes LLM.int8 and NF4, eager), "
                                               "torchao (int8 W8A8 + torch.compile); e.g. --peers bnb,torchao")
    g.add_argument("--quant-models", default=",".join(QUANT_VITS), help="models of the peer cells (default: %(default)s)")
    g.add_argument("--quant-batches", default="1,32,128", help="batches of the peer cells (default: %(default)s)")
    g.add_argument("--compile-mode", default="max-autotune",
                   choices=("max-autotune", "max-autotune-no-cudagraphs", "reduce-overhead", "default"),
                   help="torch.compile mode of the torchao cells (default: %(default)s)")
    g.add_argument("--fp8", action="store_true", help="also torchao fp8 e4m3 rowwise (dynamic activations) + "
                                                      "torch.compile, in bf16")
    g.add_argument("--peer-cell-s", type=float, default=300.0,
                   help="wall-clock budget of one peer cell (model, batch, precision), compile included; a cell "
                        "past it is killed and shown '-' (a child's start gets %d s more; default: %%(default)s)"
                        % CHILD_START_S)
    g.add_argument("--peers-only", action="store_true", help="skip the fp32/fp16 table: only the peer cells "
                                                             "(and --quant if given)")
    g.add_argument("--peer-log", default="", help="append the peer children's stderr here "
                                                  "(default: a file in the temp folder, named in the output)")
    ap.add_argument("--_child", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        return peer_child(json.loads(args._child))
    bad = [p for p in args.peers.split(",") if p and p not in PEER_PRECS]
    if bad:
        ap.error(f"--peers: unknown {','.join(bad)} (known: {','.join(PEER_PRECS)})")
    try:
        batches = [int(b) for b in args.quant_batches.split(",") if b]
    except ValueError:
        ap.error(f"--quant-batches: not a list of integers: {args.quant_batches}")
    if args.peers and (not batches or min(batches) < 1):
        ap.error("--quant-batches: needs batches >= 1")

    try:
        import torch
        import transformers as T
    except ImportError as e:
        print(f"peer_pytorch: needs torch and transformers: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    T.logging.set_verbosity_error()

    zoo = load_zoo(args.zoo)
    unknown = [m for m in args.quant_models.split(",") if m and m not in zoo]
    if args.peers and unknown:
        ap.error(f"--quant-models: not in {args.zoo}: {','.join(unknown)}")
    print(f"# device: {torch.cuda.get_device_name(0)}  torch {torch.__version__}  transformers {T.__version__}",
          flush=True)
    rows = [] if args.peers_only else main_table(args, torch, T, zoo)
    quant = quant_table(args, rows) if args.quant else []
    peers = None
    if args.peers:
        torch.cuda.empty_cache()
        peers = peer_table(args, rows, quant)
    if args.json:
        doc = {"device": torch.cuda.get_device_name(0), "rows": rows, "quant": quant}
        if peers is not None:
            doc["peers"] = peers
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)


def main_table(args, torch, T, zoo):
    """torch eager / graph and qsweep fp32 / fp16 on the cells, the table and the issue's targets."""
    names = [n for n in args.models.split(",") if n] or list(zoo)
    cells = [(n, 1) for n in names]
    if "vit-base-224-production" in names:
        cells += [("vit-base-224-production", int(b)) for b in args.batches.split(",") if b and int(b) != 1]
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
    return rows


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
