"""ONNX, both ways: export_onnx checked by onnx's own checker and run by onnxruntime
(outputs equal Network.predict), from_onnx round trips bit for bit and reads the
MatMul + Add form of other exporters, refusals name what they refuse, the CLI's
export command, and import deltaprop without onnx."""

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import deltaprop as dp
from deltaprop import _onnx, activations, cli

from strategies import networks

# float64 agrees to the last bits of the products; float32 to its rounding (|d| <= tol (1 + |x|))
TOL = {"float64": 1e-12, "float32": 1e-6}
TMP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def same_network(a, b):
    """Weights bit for bit, activations with their parameters, fixed biases, dropout, loss, dtype."""
    assert a.dtype == b.dtype and a.loss_fn == b.loss_fn and len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers):
        assert la.activation == lb.activation and la.fixed_bias == lb.fixed_bias and la.dropout == lb.dropout
        assert la.W.dtype == lb.W.dtype and np.array_equal(la.W, lb.W) and np.array_equal(la.b, lb.b)


def test_every_registered_activation_has_an_onnx_operator():
    assert set(_onnx.SUPPORTED) == set(activations.ACTIVATIONS)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@TMP
@given(case=st.data())
def test_onnxruntime_equals_predict_and_the_round_trip_is_exact(tmp_path, dtype, case):
    net, X, _ = case.draw(networks(dtype=dtype, logits=True))
    X = np.random.default_rng(0).uniform(-2, 2, (37, net.n_in))
    labels = net.is_classifier
    path = dp.io.export_onnx(net, tmp_path / "net.onnx", labels=labels)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    got = dict(zip([o.name for o in session(path).get_outputs()], session(path).run(None, {"input": X.astype(dtype)})))
    assert list(got) == _onnx.output_names(net, labels=labels)
    if net.loss_fn.from_logits:
        np.testing.assert_allclose(got["probabilities"], net.predict_proba(X), rtol=TOL[dtype], atol=TOL[dtype])
        np.testing.assert_allclose(got["logits"], net.predict(X), rtol=TOL[dtype], atol=TOL[dtype])
    else:
        np.testing.assert_allclose(got["output"], net.predict(X), rtol=TOL[dtype], atol=TOL[dtype])
    assert all(v.dtype == np.dtype(dtype) for k, v in got.items() if k != "label")
    if labels:
        assert got["label"].dtype == np.int64 and got["label"].shape == (len(X),)
        agree = got["label"] == net.predict_classes(X)
        # float32 outputs within rounding of each other may fall either side of a tie or 1/2
        assert agree.all() if dtype == "float64" else agree.mean() > 0.9
    same_network(dp.from_onnx(path), net)


def test_what_the_model_records(tmp_path):
    net = dp.Network([3, 4, 2], activation="tanh", loss="cross_entropy", dtype="float32", seed=0)
    model = onnx.load(str(dp.io.export_onnx(net, tmp_path / "n.onnx", metadata={"cli": {"classes": ["a", "b"]}})))
    assert (model.ir_version, [(o.domain, o.version) for o in model.opset_import]) == (8, [("", 17)])
    assert model.producer_name == "deltaprop" and model.producer_version
    (inp,) = model.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert inp.name == "input" and inp.type.tensor_type.elem_type == TensorProto.FLOAT
    assert (dims[0].dim_param, dims[1].dim_value) == ("batch", 3)
    assert [n.op_type for n in model.graph.node] == ["Gemm", "Tanh", "Gemm", "Softmax"]
    assert all(a.i == 1 for n in model.graph.node if n.op_type == "Gemm" for a in n.attribute if a.name == "transB")
    assert numpy_helper.to_array(model.graph.initializer[0]).shape == (4, 3)          # W1 as (n_out, n_in)
    header = json.loads({p.key: p.value for p in model.metadata_props}["deltaprop"])
    assert header["network"] == dp.io.network_header(net) and header["metadata"] == {"cli": {"classes": ["a", "b"]}}


@pytest.mark.parametrize("opset", [13, 20])
def test_other_opsets_run_with_their_ir_version(tmp_path, opset):
    net = dp.Network([2, 3, 1], activation="leaky_relu", loss="binary_cross_entropy", seed=1)
    path = dp.io.export_onnx(net, tmp_path / "n.onnx", opset=opset, labels=True)
    model = onnx.load(str(path))
    assert model.opset_import[0].version == opset and model.ir_version == {13: 7, 20: 9}[opset]
    X = np.random.default_rng(1).normal(size=(9, 2))
    proba, label = session(path).run(None, {"input": X})
    np.testing.assert_allclose(proba, net.predict(X), rtol=1e-12, atol=1e-12)
    assert np.array_equal(label, net.predict_classes(X))


@pytest.mark.parametrize("dtype,alpha,op", [("float64", 0.01, "Where"), ("float64", 0.25, "LeakyRelu"),
                                            ("float32", 0.01, "LeakyRelu")])
def test_leaky_relu_keeps_its_alpha_exactly(tmp_path, dtype, alpha, op):
    act = activations.LeakyReLU(alpha)
    net = dp.Network([dp.Dense(3, 4, act, seed=0, dtype=dtype), dp.Dense(4, 2, "identity", seed=1, dtype=dtype)])
    path = dp.io.export_onnx(net, tmp_path / "n.onnx")
    assert op in [n.op_type for n in onnx.load(str(path)).graph.node]
    X = np.random.default_rng(2).normal(size=(50, 3))
    tol = TOL[dtype]
    np.testing.assert_allclose(session(path).run(None, {"input": X.astype(dtype)})[0], net.predict(X), rtol=tol, atol=tol)
    assert dp.from_onnx(path).layers[0].activation.alpha == alpha


def test_dropout_fixed_biases_and_from_logits_come_back(tmp_path):
    layers = [dp.Dense(4, 6, "relu", dropout=0.3, seed=0), dp.Dense(6, 5, "sigmoid", fixed_bias=True, seed=1),
              dp.Dense(5, 3, "identity", seed=2)]
    net = dp.Network(layers, loss=dp.losses.CrossEntropy(from_logits=True))
    path = dp.io.export_onnx(net, tmp_path / "n.onnx", labels=True)
    assert [n.op_type for n in onnx.load(str(path)).graph.node][-2:] == ["Softmax", "ArgMax"]
    same_network(dp.from_onnx(path), net)
    # another loss can be asked for
    assert dp.from_onnx(path, loss=dp.losses.BinaryCrossEntropy(from_logits=True)).loss_fn.name == "binary_cross_entropy"


def test_the_inputs_names_come_back(tmp_path):
    net = dp.Network([2, 3, 1], loss="binary_cross_entropy", seed=0)
    net.feature_names = ["height", "weight"]
    assert dp.from_onnx(dp.io.export_onnx(net, tmp_path / "n.onnx")).feature_names == ["height", "weight"]


def test_labels_for_one_output_threshold_like_predict_classes(tmp_path):
    for loss, out in [("binary_cross_entropy", "sigmoid"), (dp.losses.BinaryCrossEntropy(from_logits=True), "identity"),
                      ("quadratic", "sigmoid")]:
        net = dp.Network([2, 3, 1], activation="tanh", output_activation=out, loss=loss, seed=3)
        X = np.random.default_rng(3).normal(size=(200, 2)) * 3
        label = session(dp.io.export_onnx(net, tmp_path / "n.onnx", labels=True)).run(["label"], {"input": X})[0]
        assert np.array_equal(label, net.predict_classes(X)) and 0 < label.sum() < len(X)


# -- graphs written by others ------------------------------------------------------------

def foreign_model(layers, *, dtype=np.float64, opset=17, form="matmul"):
    """A chain graph as other exporters write it: MatMul with (n_in, n_out) weights + Add of
    the bias (form "matmul"), or Gemm with transB=0 and no bias (form "gemm"), then the op."""
    elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    nodes, inits, cur = [], [], "x"
    for i, (W, b, op) in enumerate(layers):
        inits.append(numpy_helper.from_array(W.astype(dtype), f"w{i}"))     # (n_in, n_out)
        if form == "matmul":
            inits.append(numpy_helper.from_array(b.astype(dtype).reshape(1, -1), f"b{i}"))
            nodes += [helper.make_node("MatMul", [cur, f"w{i}"], [f"m{i}"]),
                      helper.make_node("Add", [f"b{i}", f"m{i}"], [f"z{i}"])]
        else:
            nodes.append(helper.make_node("Gemm", [cur, f"w{i}"], [f"z{i}"]))
        cur = f"z{i}"
        if op:
            nodes.append(helper.make_node(op, [cur], [f"a{i}"]))
            cur = f"a{i}"
    graph = helper.make_graph(nodes, "foreign", [helper.make_tensor_value_info("x", elem, [None, layers[0][0].shape[0]])],
                              [helper.make_tensor_value_info(cur, elem, [None, layers[-1][0].shape[1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="other")
    model.ir_version = 8
    return model


@pytest.mark.parametrize("form", ["matmul", "gemm"])
def test_reads_the_matmul_add_form_of_other_exporters(tmp_path, form):
    rng = np.random.default_rng(4)
    layers = [(rng.normal(size=(3, 5)), rng.normal(size=5), "Relu"), (rng.normal(size=(5, 4)), rng.normal(size=4), None),
              (rng.normal(size=(4, 2)), rng.normal(size=2), "Softmax")]
    path = tmp_path / "other.onnx"
    onnx.save(foreign_model(layers, form=form), str(path))
    net = dp.from_onnx(path)
    assert [l.activation.name for l in net.layers] == ["relu", "identity", "softmax"] and net.loss_fn.name == "quadratic"
    assert np.array_equal(net.layers[0].W, layers[0][0].T)
    if form == "gemm":
        assert not net.layers[0].b.any()
    X = rng.normal(size=(20, 3))
    np.testing.assert_allclose(net.predict(X), session(path).run(None, {"x": X})[0], rtol=1e-12, atol=1e-12)
    assert dp.from_onnx(path, loss="cross_entropy").loss_fn.name == "cross_entropy"


def test_reads_constant_nodes_and_float32(tmp_path):
    rng = np.random.default_rng(5)
    W = rng.normal(size=(2, 3)).astype(np.float32)
    nodes = [helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(W)),
             helper.make_node("MatMul", ["x", "w"], ["z"]), helper.make_node("Sigmoid", ["z"], ["y"])]
    graph = helper.make_graph(nodes, "c", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])])
    path = tmp_path / "c.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    net = dp.from_onnx(path)
    assert net.dtype == np.float32 and net.layers[0].activation.name == "sigmoid" and np.array_equal(net.layers[0].W, W.T)


def refused(tmp_path, model, match, error=dp.DataError):
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    with pytest.raises(error, match=match):
        dp.from_onnx(path)


def test_refuses_graphs_it_cannot_read_naming_the_node(tmp_path):
    rng = np.random.default_rng(6)
    two = [(rng.normal(size=(3, 4)), rng.normal(size=4), "Relu"), (rng.normal(size=(4, 2)), rng.normal(size=2), None)]
    model = foreign_model(two)
    model.graph.node[2].op_type = "Elu"           # node 2: the first layer's activation
    refused(tmp_path, model, r"node 2 \(Elu\) is not an operator deltaprop reads")
    model = foreign_model(two)
    model.graph.node.insert(0, helper.make_node("Relu", ["x"], ["r"]))
    model.graph.node[1].input[0] = "r"
    refused(tmp_path, model, r"node 0 \(Relu\) is an activation without a Gemm or MatMul before it")
    model = foreign_model(two)
    model.graph.node[1].op_type = "Mul"
    refused(tmp_path, model, r"node 1 \(Mul\) is not an operator")
    model = foreign_model(two)
    model.graph.node[3].input[0] = "x"            # the second MatMul skips the first layer
    refused(tmp_path, model, r"node 3 \(MatMul\) takes \['x'\], not the output 'a0'")
    model = foreign_model([(rng.normal(size=(3, 4)), rng.normal(size=4), "Relu")])
    model.graph.node.append(helper.make_node("Tanh", ["a0"], ["t"]))
    model.graph.output[0].name = "t"
    refused(tmp_path, model, r"node 3 \(Tanh\) is an activation without .* \(or a second activation in a row\)")
    model = foreign_model([(rng.normal(size=(3, 4)), rng.normal(size=4), "Softmax")])
    model.graph.node[2].attribute.append(helper.make_attribute("axis", 0))
    refused(tmp_path, model, r"node 2 \(Softmax\) normalises over axis 0")


def test_refuses_what_is_not_a_model(tmp_path):
    with pytest.raises(dp.DataError, match="No such file"):
        dp.from_onnx(tmp_path / "missing.onnx")
    (tmp_path / "text.onnx").write_bytes(b"\xff\xfe not protobuf at all \x00\x01")
    with pytest.raises(dp.DataError, match="is not an ONNX model"):
        dp.from_onnx(tmp_path / "text.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(dp.DataError, match="holds no graph"):
        dp.from_onnx(tmp_path / "empty.onnx")
    net = dp.Network([2, 3], seed=0)
    with pytest.raises(dp.DataError, match="is not an ONNX model"):
        dp.from_onnx(net.save(tmp_path / "net.dpz"))


def test_refuses_a_graph_changed_after_export(tmp_path):
    net = dp.Network([2, 3, 2], activation="relu", loss="cross_entropy", seed=0)
    model = onnx.load(str(dp.io.export_onnx(net, tmp_path / "n.onnx")))
    model.graph.node[1].op_type = "Tanh"
    refused(tmp_path, model, "the graph was changed after export")
    model = onnx.load(str(tmp_path / "n.onnx"))
    model.metadata_props[0].value = "{not json"
    refused(tmp_path, model, "its metadata entry 'deltaprop' is not JSON")


def test_export_refusals(tmp_path, monkeypatch):
    net = dp.Network([2, 3, 1], activation="relu", output_activation="identity", seed=0)
    with pytest.raises(dp.ValidationError, match="labels=True is for classifiers"):
        dp.io.export_onnx(net, tmp_path / "n.onnx", labels=True)
    assert not (tmp_path / "n.onnx").exists()
    with pytest.raises(dp.ValidationError, match=r"The 'opset' argument must be an ONNX opset from 13 to \d+"):
        dp.io.export_onnx(net, tmp_path / "n.onnx", opset=12)
    with pytest.raises(dp.DeltapropTypeError, match="must be a deltaprop Network. Got str"):
        dp.io.export_onnx("net", tmp_path / "n.onnx")
    net.layers[0].W[0, 0] = np.nan
    with pytest.raises(dp.ValidationError, match="contains NaN or infinity"):
        dp.io.export_onnx(net, tmp_path / "n.onnx")
    monkeypatch.setitem(activations.ACTIVATIONS, "softsign", Softsign)
    odd = dp.Network([2, 3, 1], activation="softsign", output_activation="identity", seed=0)
    with pytest.raises(dp.ValidationError, match="Layer 0's activation 'softsign' has no ONNX operator"):
        dp.io.export_onnx(odd, tmp_path / "n.onnx")


class Softsign(activations.Activation):
    """An activation registered only in a test, which the export does not know."""

    name = "softsign"

    def __call__(self, Z):
        return Z / (1 + np.abs(Z))

    def prime(self, Z, A):
        return 1 / (1 + np.abs(Z)) ** 2


# -- the command line --------------------------------------------------------------------

def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_export_writes_what_onnxruntime_runs(tmp_path, capsys):
    net = dp.Network([4, 6, 3], activation="tanh", loss="cross_entropy", seed=0)
    model = net.save(tmp_path / "m.dpz", metadata={"cli": {"classes": ["x", "y", "z"]}})
    code, out, err = run(capsys, "export", model, tmp_path / "m.onnx", "--labels", "--opset", 18)
    assert code == 0 and err == ""
    assert out.strip() == (f"wrote {tmp_path / 'm.onnx'}: ONNX opset 18, IR version 8; input 'input' (batch, 4) "
                           "float64; outputs output, label")
    X = np.random.default_rng(7).normal(size=(11, 4))
    output, label = session(tmp_path / "m.onnx").run(None, {"input": X})
    np.testing.assert_allclose(output, net.predict(X), rtol=1e-12, atol=1e-12)
    assert np.array_equal(label, net.predict_classes(X))
    header = json.loads(onnx.load(str(tmp_path / "m.onnx")).metadata_props[0].value)
    assert header["metadata"] == {"cli": {"classes": ["x", "y", "z"]}}


def test_cli_export_help_lists_the_exit_codes(capsys):
    assert cli.main(["export", "--help"]) == 0
    out = capsys.readouterr().out
    assert "deltaprop export MODEL OUTPUT [--opset N] [--labels]" in out and cli.EXIT_CODES in out
    assert cli.main(["--help"]) == 0 and "export" in capsys.readouterr().out


def test_cli_export_bad_input_exits_with_the_library_codes(tmp_path, capsys, monkeypatch):
    code, _, err = run(capsys, "export", tmp_path / "missing.dpz", tmp_path / "m.onnx")
    assert code == cli.EXIT_DATA == 3 and "No such file or directory" in err and "Traceback" not in err
    (tmp_path / "notes.txt").write_text("not a model\n")
    code, _, err = run(capsys, "export", tmp_path / "notes.txt", tmp_path / "m.onnx")
    assert code == 3 and "it is not a deltaprop file" in err
    regression = dp.Network([2, 1], activation="identity", seed=0).save(tmp_path / "r.dpz")
    code, _, err = run(capsys, "export", regression, tmp_path / "m.onnx", "--labels")
    assert code == cli.EXIT_USAGE == 2 and "--labels is for classifiers" in err
    code, _, err = run(capsys, "export", regression, tmp_path / "m.onnx", "--opset", 99)
    assert code == 2 and "--opset must be from 13 to" in err
    code, _, err = run(capsys, "export", regression, tmp_path / "no-such-dir" / "m.onnx")
    assert code == 3 and "does not exist" in err
    monkeypatch.setitem(activations.ACTIVATIONS, "softsign", Softsign)
    odd = dp.Network([2, 3, 1], activation="softsign", output_activation="identity", seed=0).save(tmp_path / "o.dpz")
    code, _, err = run(capsys, "export", odd, tmp_path / "m.onnx")
    assert code == 2 and "activation 'softsign' has no ONNX operator" in err
    assert not (tmp_path / "m.onnx").exists()


# -- the optional dependencies -----------------------------------------------------------

@pytest.mark.parametrize("module,call,extra", [
    ("onnx", "dp.from_onnx('x.onnx')", "onnx"),
    ("onnx", "dp.io.export_onnx(dp.Network([2, 1]), 'x.onnx')", "onnx"),
    ("torch", "dp.Network([2, 1]).to_torch()", "torch"),
    ("torch", "dp.from_torch(None)", "torch"),
    ("sklearn", "dp.from_sklearn(None)", "sklearn"),
])
def test_import_deltaprop_imports_none_of_them_and_a_missing_one_names_its_extra(module, call, extra):
    code = ("import sys\n"
            "import deltaprop as dp\n"
            "for name in ('onnx', 'onnxruntime', 'torch', 'sklearn'):\n"
            "    assert name not in sys.modules, f'import deltaprop imported {name}'\n"
            f"sys.modules[{module!r}] = None\n"                       # as if it were not installed
            "try:\n"
            f"    {call}\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(f'an optional extra: pip install "deltaprop[{extra}]"')
