"""Largest differences between deltaprop and onnxruntime / PyTorch / scikit-learn on random
networks like tests/strategies.py draws (depth 1-4, widths 1-8, every activation and loss,
from_logits too, X uniform in [-2, 2], batches of 1-5; 64 rows for onnxruntime).
Run: .venv/bin/python benchmarks/interop_agreement.py [N per dtype]   (N = 300 for the figures in docs/interop.md)"""
import sys, tempfile, warnings
import numpy as np, onnx, onnxruntime as ort, sklearn, torch
import deltaprop as dp
from sklearn.neural_network import MLPClassifier, MLPRegressor

EW = ["sigmoid", "relu", "tanh", "identity", "leaky_relu"]
N = int(sys.argv[1]) if len(sys.argv) > 1 else 300

def random_net(rng, dtype):
    depth = rng.integers(1, 5); sizes = list(rng.integers(1, 9, depth + 1))
    loss = rng.choice(["quadratic", "binary_cross_entropy", "cross_entropy"])
    logits = loss != "quadratic" and rng.random() < 0.5
    hidden = rng.choice(EW)
    if loss == "cross_entropy": sizes[-1] = max(sizes[-1], 2); out = "softmax"
    elif loss == "binary_cross_entropy": out = "sigmoid"
    else: out = rng.choice(EW + (["softmax"] if sizes[-1] >= 2 else []))
    if logits: out, loss = "identity", dp.losses.get({"name": str(loss), "from_logits": True})
    return dp.Network([int(s) for s in sizes], activation=str(hidden), output_activation=str(out), loss=loss,
                      dtype=dtype, seed=int(rng.integers(2**32)))

def torch_cost(net, out, Y):
    name, logits, k = net.loss_fn.name, net.loss_fn.from_logits, net.n_out
    if name == "quadratic": return 0.5 * k * torch.nn.MSELoss()(out, Y)
    if name == "binary_cross_entropy": return k * (torch.nn.BCEWithLogitsLoss() if logits else torch.nn.BCELoss())(out, Y)
    return torch.nn.CrossEntropyLoss()(out, Y) if logits else -(Y * torch.log(out)).sum(dim=1).mean()

worst = {}
def note(key, value): worst[key] = max(worst.get(key, 0.0), float(value))
def diff(key, got, want):
    """the absolute difference, and the difference as a share of 1 + |value| (assert_allclose's atol = rtol)"""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    note(key, np.abs(got - want).max())
    note(key + " (/(1+|x|))", (np.abs(got - want) / (1 + np.abs(want))).max())
rng = np.random.default_rng(20261202)
with tempfile.TemporaryDirectory() as d:
    for dtype in ("float64", "float32"):
        for _ in range(N):
            net = random_net(rng, dtype)
            X = rng.uniform(-2, 2, (64, net.n_in)).astype(dtype)
            path = dp.io.export_onnx(net, f"{d}/m.onnx")
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = sess.run(None, {"input": X})
            want = net.predict_proba(X) if net.loss_fn.from_logits else net.predict(X)
            diff(f"onnxruntime vs predict, {dtype}", got[0], want)
            m = int(rng.integers(1, 6)); Xb = X[:m]
            Y = rng.uniform(0, 1, (m, net.n_out)).astype(dtype)
            if net.loss_fn.name == "cross_entropy":
                Y = dp.one_hot(rng.integers(0, net.n_out, m), net.n_out, dtype=dtype)
            module = net.to_torch()
            out = module(torch.from_numpy(Xb))
            diff(f"torch outputs vs predict, {dtype}", out.detach().numpy(), net.predict(Xb))
            cost = torch_cost(net, out, torch.from_numpy(Y)); cost.backward()
            linears = [mod for mod in module if isinstance(mod, torch.nn.Linear)]
            for (dW, db), lin in zip(net.gradients(Xb, Y), linears):
                diff(f"torch gradients vs net.gradients, {dtype}", lin.weight.grad.numpy(), dW)
                diff(f"torch gradients vs net.gradients, {dtype}", lin.bias.grad.numpy(), db)
            diff(f"torch loss vs net.loss, {dtype}", cost.item(), net.loss(Xb, Y))
# scikit-learn
X = rng.normal(size=(200, 5)); warnings.simplefilter("ignore")
for act in ("identity", "logistic", "tanh", "relu"):
    for k in (2, 3):
        y = (X[:, 0] > 0).astype(int) + (k == 3) * (X[:, 1] > 0.5)
        est = MLPClassifier(hidden_layer_sizes=(7, 4), activation=act, max_iter=200, random_state=0).fit(X, y)
        net = dp.from_sklearn(est)
        p = net.predict_proba(X)
        p = np.hstack([1 - p, p]) if p.shape[1] == 1 else p
        note("sklearn predict_proba vs deltaprop", np.abs(p - est.predict_proba(X)).max())
    est = MLPRegressor(hidden_layer_sizes=(7,), activation=act, max_iter=200, random_state=0).fit(X, X[:, :2] @ [1.0, -2.0])
    note("sklearn MLPRegressor predict vs deltaprop", np.abs(dp.from_sklearn(est).predict(X).ravel() - est.predict(X)).max())
print(f"{N} random networks per dtype; onnx {onnx.__version__}, onnxruntime {ort.__version__}, torch {torch.__version__}, "
      f"scikit-learn {sklearn.__version__}, numpy {np.__version__}")
for k, v in worst.items():
    print(f"  {k:62s} {v:.3g}")
