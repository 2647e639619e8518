"""PyTorch on the CPU: the idiomatic training loop, as its tutorials write it.

``nn.Sequential`` of ``nn.Linear`` layers, a ``torch.optim`` optimizer, the data as
tensors already in memory in the workload's dtype (``torch.from_numpy``: no copy), a
``torch.randperm`` shuffle per epoch, and per mini-batch: index, ``zero_grad``,
forward, loss, ``backward``, ``step``. ``torch.set_num_threads(THREADS)``.

Same initial weights as deltaprop for the same seed (common.init_params), copied into
the layers. W1's loss is the quadratic cost C = 1/m sum_x 1/2 ||a - y||^2, written
``F.mse_loss(out, y, reduction="sum") / (2 * m)`` (so its gradient is deltaprop's; the
default ``reduction="mean"`` would also divide by the 10 outputs and halve nothing). W2's output is the
logits with ``F.cross_entropy`` (log-softmax + NLL fused: the same function and
gradient as a softmax layer with cross-entropy). Optimizers: ``torch.optim.SGD``
(W1, W3) and ``torch.optim.Adam`` (W2, W4) with ``fused=True``, PyTorch's fastest CPU
implementation of each (``--no-fused`` for the default for-loop implementation).

W4 is W2's network widened to 784-2048-2048-10 at batch 256, the same code. Its warm-up
is a partial epoch: the first ``warmup_steps`` mini-batches of the epoch's permutation
and its short last batch (``--warmup-steps``). ``--steps N``: the timed epoch is over
the first N x batch training images, reported per step.

W3 is a plain loop of 10,000 full-batch steps on the one example (no shuffling: there
is one example), the biases held fixed (``requires_grad_(False)``), as in the example.
"""

from __future__ import annotations

import common  # first: fixes the thread count before NumPy loads

import time

import numpy as np


def main():
    p = common.arg_parser("torch")
    p.add_argument("--no-fused", action="store_true", help="use the optimizers' default implementation")
    args = p.parse_args()
    run = common.Run("torch", args, fused=not args.no_fused)
    t = time.perf_counter()
    import torch
    import torch.nn.functional as F
    from torch import nn
    run.phase("import", time.perf_counter() - t)
    torch.set_num_threads(common.THREADS)
    run.result["versions"] = {"torch": torch.__version__, "numpy": np.__version__}
    run.result["torch_threads"] = {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    run.result["torch_parallel_info"] = torch.__config__.parallel_info()
    wl = run.wl
    dtype = getattr(torch, wl["dtype"])
    fused = {"fused": True} if not args.no_fused else {}

    if args.workload == "W3":
        updates = args.updates or wl["updates"]
        m = common.MAZUR
        x, y = torch.from_numpy(m["x"]), torch.from_numpy(m["y"])

        def tiny_run():
            model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 2), nn.Sigmoid()).to(dtype)
            with torch.no_grad():
                for lin, W, b in zip((model[0], model[2]), m["W"], m["b"]):
                    lin.weight.copy_(torch.from_numpy(W))
                    lin.bias.copy_(torch.from_numpy(b))
                    lin.bias.requires_grad_(False)            # the example never updates its biases
            opt = torch.optim.SGD([q for q in model.parameters() if q.requires_grad], lr=m["lr"], **fused)
            t = time.perf_counter()
            for _ in range(updates):
                opt.zero_grad(set_to_none=True)
                loss = 0.5 * F.mse_loss(model(x), y, reduction="sum")   # E_total = sum 1/2 (target - out)^2
                loss.backward()
                opt.step()
            seconds = time.perf_counter() - t
            with torch.no_grad():
                final = float(0.5 * (model(x) - y).pow(2).sum())
            return final, seconds

        run.mark_rss("after_data")
        _, warm = tiny_run()
        final, seconds = tiny_run()
        run.finish(unit="us/update", updates=updates, warmup_s=warm, train_s=seconds,
                   value=seconds / updates * 1e6, final_loss=final)
        return

    t = time.perf_counter()
    (Xn, yn), (Xtn, ytn) = common.mnist(wl["dtype"], common.training_rows(args, wl))
    X, Xt = torch.from_numpy(Xn), torch.from_numpy(Xtn)
    y, yt = torch.from_numpy(yn), torch.from_numpy(ytn)
    if args.workload == "W1":
        Y = torch.from_numpy(common.one_hot(yn, 10, wl["dtype"]))   # quadratic cost: one-hot targets
    run.phase("data", time.perf_counter() - t)
    run.mark_rss("after_data")
    n, batch = len(X), wl["batch"]
    epochs = common.timed_epochs(args, wl)
    _, warm_steps = common.warmup_plan(args, wl, n)
    sizes = wl["sizes"]

    def build(seed):
        if args.workload == "W1":
            model = nn.Sequential(nn.Linear(784, 30), nn.Sigmoid(), nn.Linear(30, 10), nn.Sigmoid())
        else:                                   # W2 and W4: ReLU hidden layers, logits out
            model = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(), nn.Linear(sizes[1], sizes[2]), nn.ReLU(),
                                  nn.Linear(sizes[2], sizes[3]))
        model = model.to(dtype)
        linears = [mod for mod in model if isinstance(mod, nn.Linear)]
        with torch.no_grad():
            for lin, (W, b) in zip(linears, common.init_params(wl, seed)):
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.copy_(torch.from_numpy(b))
        if args.workload == "W1":
            opt = torch.optim.SGD(model.parameters(), lr=wl["lr"], **fused)
        else:
            opt = torch.optim.Adam(model.parameters(), lr=wl["lr"], **fused)
        return model, opt

    if args.workload == "W1":
        def loss_fn(out, idx):
            return F.mse_loss(out, Y[idx], reduction="sum") / (2 * len(idx))  # C = 1/m sum_x 1/2 ||a - y||^2
    else:
        def loss_fn(out, idx):
            return F.cross_entropy(out, y[idx])

    def train(model, opt, n_epochs, gen, steps=None):
        """``steps``: only the first ``steps`` full mini-batches of the epoch and its short last one."""
        model.train()
        epoch_s = []
        starts = list(range(0, n, batch))
        if steps is not None:
            starts = starts[:steps] + ([n - n % batch] if n % batch else [])
        for _ in range(n_epochs):
            t = time.perf_counter()
            perm = torch.randperm(n, generator=gen)
            for start in starts:
                idx = perm[start:start + batch]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(X[idx]), idx)
                loss.backward()
                opt.step()
            epoch_s.append(time.perf_counter() - t)
        return epoch_s

    # Warm-up: one untimed epoch (W4: a partial one) on a throwaway model built the same way.
    model, opt = build(args.seed + 1000)
    warm = sum(train(model, opt, 1, torch.Generator().manual_seed(args.seed + 1000), warm_steps))
    t = time.perf_counter()
    model, opt = build(args.seed)
    run.phase("build", time.perf_counter() - t)
    gen = torch.Generator().manual_seed(args.seed)
    t = time.perf_counter()
    epoch_s = train(model, opt, epochs, gen)
    seconds = time.perf_counter() - t
    model.eval()
    with torch.inference_mode():
        acc = float((model(Xt).argmax(dim=1) == yt).to(torch.float64).mean())
    run.finish(**common.timing(args, seconds, epochs), warmup_s=warm, warmup_steps=warm_steps, train_s=seconds,
               epoch_s=epoch_s, test_accuracy=acc, dtype=str(next(model.parameters()).dtype))


if __name__ == "__main__":
    main()
