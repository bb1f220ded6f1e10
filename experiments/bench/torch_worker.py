"""Benchmark worker: runs PyTorch cases on request (CPU, or CUDA after "device"), one JSON
line per command.

Protocol (stdin/stdout, one JSON object per line):
  {"cmd": "info"} -> {"torch": version, "threads": n, "mkldnn": bool}
  {"cmd": "device", "device": "cuda", "tf32": bool, "deterministic": bool, "benchmark": bool}
      -> {"device": name}  (before any setup; cuDNN benchmark mode only when "benchmark")
  {"cmd": "setup", "name": str, "case": {...}} -> {"ok": true}
  {"cmd": "run", "name": str, "iters": int} -> {"seconds": total}
Cases: gemm {m, n, k}; conv_fwd / conv_bwd_data / conv_bwd_weights
{n, c, h, w, k, r, s, stride, pad}; model cases are added by later benchmarks.
"""
import json
import os
import sys
import time

import torch

# The PyTorch twins of Topiary's models (also used by the equivalence test).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "core", "models"))

cases = {}
# Device of every case's tensors and models; inputs are drawn on the CPU, then moved.
DEVICE = torch.device("cpu")


def dev(t):
    """A CPU-drawn tensor (or module) on the worker's device."""
    return t.to(DEVICE)


def sync():
    """Waits for queued device work (CUDA launches are asynchronous)."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def make_model_case(spec):
    """One training step (forward, backward, SGD update) or forward+backward of a model."""
    import torch_models  # noqa: E402  (needs the path above)
    model = dev(torch_models._build({"model": spec["model"], "args": spec.get("args", {})}))
    model.train()
    g = torch.Generator().manual_seed(0)
    n = spec["batch"]
    x = dev(torch.rand([n] + spec["input"], generator=g))
    y = dev(torch.randint(0, 10, (n,), generator=g))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if spec["update"] else None
    loss_fn = torch.nn.functional.cross_entropy

    def step():
        with torch.enable_grad():
            for p in model.parameters():
                p.grad = None
            loss = loss_fn(model(x), y)
            loss.backward()
            if opt is not None:
                opt.step()
    return step


def pgd_linf(model, x, y, eps, alpha, steps, g):
    """PGD-Linf with a uniform random start (g: a generator on x's device); gradients with respect
    to the input only."""
    loss_fn = torch.nn.functional.cross_entropy
    delta = (torch.rand(x.shape, generator=g, device=x.device) * 2 - 1) * eps
    xa = (x + delta).clamp(0, 1)
    for _ in range(steps):
        xa.requires_grad_(True)
        with torch.enable_grad():
            loss = loss_fn(model(xa), y)
            (gx,) = torch.autograd.grad(loss, [xa])
        xa = xa.detach() + alpha * gx.sign()
        xa = torch.min(torch.max(xa, x - eps), x + eps).clamp(0, 1)
    return xa.detach()


def make_attack_case(spec):
    """PGD-10 attack throughput, or one PGD-10 adversarial training step (Madry)."""
    import torch_models  # noqa: E402  (needs the path above)
    model = dev(torch_models._build({"model": spec["model"], "args": spec.get("args", {})}))
    g = torch.Generator().manual_seed(0)
    n = spec["batch"]
    x = dev(torch.rand([n] + spec["input"], generator=g))
    y = dev(torch.randint(0, 10, (n,), generator=g))
    # The attack's random starts are drawn where the attack runs (no host copy per step).
    g = torch.Generator(device=DEVICE).manual_seed(0)
    eps, alpha, steps = spec["eps"], spec["alpha"], spec["steps"]
    if not spec["train"]:
        model.eval()
        return lambda: pgd_linf(model, x, y, eps, alpha, steps, g)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        model.eval()
        xa = pgd_linf(model, x, y, eps, alpha, steps, g)
        model.train()
        with torch.enable_grad():
            for p in model.parameters():
                p.grad = None
            loss = torch.nn.functional.cross_entropy(model(xa), y)
            loss.backward()
            opt.step()
    return step


def magnitude_prune_(w, density):
    """Zeroes all but the round(density * size) largest |w| in place (layer-wise magnitude)."""
    keep = int(round(density * w.numel()))
    flat = w.view(-1)
    if keep < flat.numel():
        order = flat.abs().argsort(descending=True)
        flat[order[keep:]] = 0
    return w


def make_sparse_layer_case(spec):
    """Forward of one pruned layer: dense (masks give no speedup) or torch.sparse CSR (linear)."""
    g = torch.Generator().manual_seed(0)
    n, density = spec["n"], spec["density"]
    if spec["layer"] == "linear":
        w = dev(magnitude_prune_(torch.randn(spec["k"], spec["c"], generator=g), density))
        b = dev(torch.randn(spec["k"], generator=g))
        x = dev(torch.rand(n, spec["c"], generator=g))
        if spec["mode"] == "dense":
            return lambda: torch.nn.functional.linear(x, w, b)
        wc = w.to_sparse_csr()
        xt = x.t().contiguous()
        return lambda: torch.addmm(b.unsqueeze(1), wc, xt).t()
    w = dev(magnitude_prune_(torch.randn(spec["k"], spec["c"], spec["r"], spec["s"], generator=g),
                             density))
    b = dev(torch.randn(spec["k"], generator=g))
    x = dev(torch.rand(n, spec["c"], spec["h"], spec["w"], generator=g))
    if spec["mode"] != "dense":
        raise ValueError("PyTorch has no sparse convolution")
    return lambda: torch.nn.functional.conv2d(x, w, b, stride=spec["stride"], padding=spec["pad"])


def make_model_fwd_case(spec):
    """Inference forward of a model with every conv/linear weight pruned by magnitude."""
    import torch_models  # noqa: E402  (needs the path above)
    model = torch_models._build({"model": spec["model"], "args": spec.get("args", {})})
    model.eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                magnitude_prune_(m.weight.data, spec["density"])
    model = dev(model)
    x = dev(torch.rand([spec["batch"]] + spec["input"], generator=torch.Generator().manual_seed(0)))
    return lambda: model(x)


def make_case(spec):
    kind = spec["kind"]
    if kind == "model":
        return make_model_case(spec)
    if kind == "sparse_layer":
        return make_sparse_layer_case(spec)
    if kind == "model_fwd":
        return make_model_fwd_case(spec)
    if kind == "pgd":
        return make_attack_case(spec)
    g = torch.Generator().manual_seed(0)
    if kind == "gemm":
        a = dev(torch.rand(spec["m"], spec["k"], generator=g))
        b = dev(torch.rand(spec["k"], spec["n"], generator=g))
        return lambda: torch.mm(a, b)
    n, c, h, w = spec["n"], spec["c"], spec["h"], spec["w"]
    k, r, s = spec["k"], spec["r"], spec["s"]
    stride, pad = spec["stride"], spec["pad"]
    x = dev(torch.rand(n, c, h, w, generator=g))
    wt = dev(torch.rand(k, c, r, s, generator=g) - 0.5)
    bias = dev(torch.rand(k, generator=g))
    y = torch.nn.functional.conv2d(x, wt, bias, stride=stride, padding=pad)
    dy = dev(torch.rand(y.shape, generator=g))
    conv_bwd = torch.ops.aten.convolution_backward
    if kind == "conv_fwd":
        return lambda: torch.nn.functional.conv2d(x, wt, bias, stride=stride, padding=pad)
    if kind == "conv_bwd_data":
        return lambda: conv_bwd(dy, x, wt, [k], [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], 1,
                                [True, False, False])
    if kind == "conv_bwd_weights":
        return lambda: conv_bwd(dy, x, wt, [k], [stride] * 2, [pad] * 2, [1, 1], False, [0, 0], 1,
                                [False, True, True])
    raise ValueError(f"unknown case kind {kind}")


def blas_library():
    """Path of the BLAS library torch.mm runs on (Debian: reference BLAS or OpenBLAS)."""
    torch.mm(torch.ones(8, 8), torch.ones(8, 8))
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.split()[-1]}
    return sorted(libs)[0] if libs else "unknown"


def set_device(msg):
    """Moves every later case to a CUDA device, TF32, determinism and autotuning as asked."""
    global DEVICE
    if msg["device"] != "cuda" or not torch.cuda.is_available():
        raise ValueError(f"device {msg['device']} is not available to torch {torch.__version__}")
    DEVICE = torch.device("cuda")
    tf32 = bool(msg.get("tf32", False))
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = bool(msg.get("benchmark", False))
    torch.backends.cudnn.deterministic = bool(msg.get("deterministic", True))
    return {"device": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "tf32": tf32,
            "deterministic": torch.backends.cudnn.deterministic,
            "benchmark": torch.backends.cudnn.benchmark}


def main():
    torch.set_grad_enabled(False)
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg["cmd"]
        if cmd == "info":
            out = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                   "mkldnn": torch.backends.mkldnn.is_available(), "blas": blas_library()}
        elif cmd == "threads":
            torch.set_num_threads(int(msg["threads"]))
            out = {"threads": torch.get_num_threads()}
        elif cmd == "device":
            try:
                out = set_device(msg)
            except Exception as e:  # noqa: BLE001  (reported to the client)
                out = {"error": str(e)}
        elif cmd == "setup":
            cases[msg["name"]] = make_case(msg["case"])
            out = {"ok": True}
        elif cmd == "run":
            fn = cases[msg["name"]]
            sync()
            t0 = time.perf_counter()
            for _ in range(int(msg["iters"])):
                fn()
            sync()
            out = {"seconds": time.perf_counter() - t0}
        else:
            out = {"error": f"unknown command {cmd}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
