"""Networks to and from ONNX, through the ``onnx`` package's own graph API.

:func:`export_onnx` writes a network as an ONNX model that onnxruntime (or any ONNX
runtime) runs; :func:`from_onnx` reads back the graphs it writes and the common
``MatMul`` + ``Add`` form other exporters write. Both need the optional extra
``pip install "deltaprop[onnx]"`` (the ``onnx`` and ``onnxruntime`` packages);
``import deltaprop`` never imports them.

The graph a network of L layers becomes, rows = examples as in :meth:`Network.predict`::

    input (batch, n_0)
      -> Gemm(W1, b1, transB=1) -> activation -> ... -> Gemm(WL, bL, transB=1) -> activation
      -> output (batch, n_L)

``W<l>`` is stored as the network holds it, ``(n_out, n_in)``: ``Gemm`` with
``transB=1`` computes ``X W^T + b``, the layer's ``z = W a + b`` on rows. The element
type is the network's dtype (``float`` for float32, ``double`` for float64); the batch
dimension is named ``"batch"`` and free. The activations are ONNX operators:

==============  ===================================================================
deltaprop       ONNX
==============  ===================================================================
sigmoid         Sigmoid
relu            Relu
tanh            Tanh
identity        nothing (the Gemm's output is the layer's output)
leaky_relu      LeakyRelu(alpha); for a float64 network whose alpha a 32-bit float
                cannot hold (0.01), Where(Greater(z, 0), z, Mul(z, alpha)) with alpha
                a float64 constant (LeakyRelu's attribute is a 32-bit float)
softmax         Softmax(axis=-1)
==============  ===================================================================

A network whose loss takes logits (``from_logits=True``, an identity output layer) is
written with its probabilities as the first output, ``"probabilities"`` (sigma(z) or
softmax(z), what :meth:`Network.predict_proba` returns), and its logits z^L as a second
output, ``"logits"`` (what :meth:`Network.predict` returns): a consumer of the first
output gets probabilities whichever way the network was trained. ``labels=True`` adds
an ``int64`` output ``"label"`` of shape ``(batch,)``: the :meth:`Network.predict_classes`
decision (ArgMax over outputs, or a single output above 1/2, logits above 0).

Versions: opset 17 by default (13 up to what the installed ``onnx`` knows), and the
lowest IR version that opset allows, set explicitly (``onnx.helper.make_model`` would
stamp the newest the installed onnx knows, which older runtimes refuse:
microsoft/onnxruntime#20559). Opset 17 is IR version 8. onnxruntime 1.17, the extra's
floor, reads IR versions up to 9, that is opsets 13 to 20 as written here; newer
onnxruntime releases read more. Tested with onnx 1.23.2 and onnxruntime 1.32.0 (every
opset from 13 to 28 runs there), not with older releases.

The model's metadata records ``producer_name`` ``"deltaprop"`` and its version, and,
as the ``metadata_props`` entry ``"deltaprop"``, the header a ``.dpz`` file holds (the
network's description: loss, activations with their exact parameters, dropout, fixed
biases; and the caller's ``metadata``): :func:`from_onnx` restores the network from
it and the graph's weights bit for bit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _archive, _files, _format
from ._format import (FORMAT, check_header, library_version, network_arrays, network_header,
                      parse_network)
from .errors import DataError, DeltapropTypeError, ValidationError
from .layers import Dense
from .network import Network
from .activations import Activation, LeakyReLU
from .losses import Loss

if TYPE_CHECKING:
    from onnx import GraphProto, ModelProto, NodeProto, TensorProto

_HINT = 'ONNX export and import need the onnx package, an optional extra: pip install "deltaprop[onnx]"'
#: The opset written unless another is asked for.
DEFAULT_OPSET = 17
#: The oldest opset written: from 13, Softmax normalises over its axis alone and Squeeze
#: takes its axes as an input, as the graph uses them.
MIN_OPSET = 13
#: The graph's input, and the key of deltaprop's header among the model's metadata_props.
INPUT, METADATA_KEY = "input", "deltaprop"
# The single-op activations: deltaprop name -> ONNX operator (leaky_relu and identity are
# written by _activation_nodes; any other registered activation is refused).
_OPS = {"sigmoid": "Sigmoid", "relu": "Relu", "tanh": "Tanh", "softmax": "Softmax"}
#: Every deltaprop activation the export writes.
SUPPORTED = (*_OPS, "identity", "leaky_relu")
# What from_onnx reads as a layer's activation.
_ACTIVATION_OPS = {"Sigmoid": "sigmoid", "Relu": "relu", "Tanh": "tanh", "Softmax": "softmax",
                   "LeakyRelu": "leaky_relu", "PRelu": "leaky_relu"}
# Nodes that compute a label from the outputs (labels=True) and feed nothing else.
_LABEL_OPS = {"ArgMax", "Greater", "Cast", "Squeeze"}


def _onnx() -> tuple[ModuleType, ModuleType, ModuleType]:
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise ImportError(_HINT, name="onnx") from None
    return onnx, helper, numpy_helper


def opset_range() -> tuple[int, int]:
    """``(MIN_OPSET, newest opset the installed onnx package knows)``."""
    onnx, _, _ = _onnx()
    return MIN_OPSET, onnx.defs.onnx_opset_version()


def ir_version(opset: int) -> int:
    """The IR version written with ``opset``: the lowest that allows it (8 for 17)."""
    _, helper, _ = _onnx()
    return helper.find_min_ir_version_for([helper.make_opsetid("", opset)])


def output_names(net: Network, *, labels: bool = False) -> list[str]:
    """The names of the graph's outputs, in order, for ``net`` (see the module's docstring)."""
    names = ["probabilities", "logits"] if net.loss_fn.from_logits else ["output"]
    return names + (["label"] if labels else [])


# -- export -------------------------------------------------------------------------------

def export_onnx(net: Network, path: str | os.PathLike, *, opset: int = DEFAULT_OPSET, labels: bool = False,
                metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``net`` to ``path`` as an ONNX model (atomically); returns the path.

    Args:
        net: the network. Rows in, rows out: the input ``"input"`` is ``(batch, n_in)``
            and the outputs are ``(batch, n_out)``, in the network's dtype.
        path: where to write (``.onnx``); a file there is replaced only once the new one
            is complete.
        opset: the ONNX opset, from 13 to the newest the installed onnx knows (default
            17, written with IR version 8; onnxruntime 1.17 reads opsets up to 20).
        labels: also output ``"label"``, ``(batch,)`` int64, the class index
            :meth:`Network.predict_classes` gives (classifiers only).
        metadata: a JSON-able dict kept in the model's metadata with the network's
            description (as :func:`deltaprop.io.save` keeps it), e.g. class names.

    Outputs: ``"output"`` (a^L, :meth:`Network.predict`), or for a ``from_logits`` loss
    ``"probabilities"`` (:meth:`Network.predict_proba`) then ``"logits"`` (z^L); then
    ``"label"`` with ``labels=True``. The model passes ``onnx.checker.check_model``
    with ``full_check=True`` before it is written.
    """
    model = onnx_model(net, opset=opset, labels=labels, metadata=metadata)
    if model.ByteSize() >= 2**31:
        raise ValidationError(f"The network ({net.n_params:,} parameters of {net.dtype.name}) is too large for one "
                              "ONNX file: protobuf, ONNX's container, holds at most 2 GiB.")
    data = model.SerializeToString()
    with _files.atomic_open(path, "wb") as f:
        f.write(data)
    return Path(os.fspath(path))


def onnx_model(net: Network, *, opset: int = DEFAULT_OPSET, labels: bool = False,
               metadata: Mapping[str, Any] | None = None) -> ModelProto:
    """The ``onnx.ModelProto`` :func:`export_onnx` writes (checked, not written)."""
    onnx, helper, numpy_helper = _onnx()
    if not isinstance(net, Network):
        raise DeltapropTypeError(f"The 'net' argument must be a deltaprop Network. Got {type(net).__name__} instead.")
    low, high = opset_range()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not low <= opset <= high:
        raise ValidationError(f"The 'opset' argument must be an ONNX opset from {low} to {high} (the newest the "
                              f"installed onnx {onnx.__version__} knows). Got {opset!r} instead.")
    if not isinstance(labels, (bool, np.bool_)):
        raise DeltapropTypeError(f"The 'labels' argument must be True or False. Got {labels!r} instead.")
    if labels and not net.is_classifier:
        raise ValidationError(f"labels=True is for classifiers; this network has {net.n_out} "
                              f"{net.layers[-1].activation.name} output(s) with the {net.loss_fn.name} cost (a "
                              "regression), which has no labels. Export it without labels.")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise DeltapropTypeError(f"The 'metadata' argument must be a dict (or None). "
                                 f"Got {type(metadata).__name__} instead.")
    _archive.check_json(dict(metadata), "metadata")
    for i, layer in enumerate(net.layers):
        if layer.activation.name not in SUPPORTED:
            raise ValidationError(
                f"Layer {i}'s activation {layer.activation.name!r} has no ONNX operator in deltaprop's export, so "
                f"the network cannot be written as ONNX. Activations it writes: {', '.join(SUPPORTED)}.")
    spec = network_header(net)           # refuses what a .dpz could not describe either
    arrays = network_arrays(net)         # and NaN or infinite weights
    elem = onnx.TensorProto.DOUBLE if net.dtype == np.float64 else onnx.TensorProto.FLOAT

    nodes: list[NodeProto] = []
    inits: list[TensorProto] = []
    current, last = INPUT, len(net.layers)
    main = "logits" if net.loss_fn.from_logits else "output"
    for l, layer in enumerate(net.layers, start=1):
        inits += [numpy_helper.from_array(arrays[f"W{l}"], f"W{l}"), numpy_helper.from_array(arrays[f"b{l}"], f"b{l}")]
        identity = layer.activation.name == "identity"
        z = main if l == last and identity else f"z{l}"
        # Gemm: Y = X B^T + C with transB=1, so W keeps the network's (n_out, n_in)
        nodes.append(helper.make_node("Gemm", [current, f"W{l}", f"b{l}"], [z], name=f"layer{l}/Gemm", transB=1))
        current = z
        if not identity:
            out = main if l == last else f"a{l}"
            _activation_nodes(layer.activation, net.dtype, l, current, out, nodes, inits, helper, numpy_helper)
            current = out
    if net.loss_fn.from_logits:
        # the probabilities the loss forms from z^L, as the first output (what a consumer wants)
        if net.loss_fn.name == "binary_cross_entropy":
            nodes.append(helper.make_node("Sigmoid", ["logits"], ["probabilities"], name="probabilities/Sigmoid"))
        else:
            nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], name="probabilities/Softmax",
                                          axis=-1))
    outputs = [helper.make_tensor_value_info(name, elem, ["batch", net.n_out])
               for name in output_names(net)]
    if labels:
        _label_nodes(net, main, nodes, inits, onnx, helper, numpy_helper)
        outputs.append(helper.make_tensor_value_info("label", onnx.TensorProto.INT64, ["batch"]))

    graph = helper.make_graph(
        nodes, "deltaprop_network", [helper.make_tensor_value_info(INPUT, elem, ["batch", net.n_in])], outputs, inits,
        doc_string=f"deltaprop network {net.sizes}, loss {net.loss_fn!r}, {net.dtype.name}; rows are examples")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", int(opset))], producer_name="deltaprop",
                              producer_version=library_version())
    # make_model stamps the newest IR version the installed onnx knows, which older runtimes
    # refuse (microsoft/onnxruntime#20559): write the lowest the opset allows instead
    model.ir_version = ir_version(int(opset))
    # the lowest format version that describes the network, as _format.write chooses it
    version = _format.format_version(spec)
    header = {"format": FORMAT, "format_version": version,
              "library_version": library_version(), "kind": "model", "network": spec, "metadata": dict(metadata)}
    helper.set_model_props(model, {METADATA_KEY: json.dumps(header)})
    onnx.checker.check_model(model, full_check=True)
    return model


def _activation_nodes(act: Activation, dtype: np.dtype, l: int, z: str, out: str, nodes: list[NodeProto],
                      inits: list[TensorProto], helper: ModuleType, numpy_helper: ModuleType) -> None:
    name = act.name
    if name == "leaky_relu":
        assert isinstance(act, LeakyReLU)      # the registered one: network_header checked it
        alpha = act.alpha
        if dtype == np.float32 or float(np.float32(alpha)) == alpha:
            # float32 networks compute with float32(alpha) too: the 32-bit attribute is exact
            nodes.append(helper.make_node("LeakyRelu", [z], [out], name=f"layer{l}/LeakyRelu", alpha=alpha))
        else:
            # LeakyRelu's alpha attribute is a 32-bit float (0.01 would become 0.0099999998).
            # The layer's own np.where(z > 0, z, alpha z), with alpha in the network's dtype
            # (PRelu takes it as a tensor too, but onnxruntime has no float64 PRelu at most opsets)
            inits += [numpy_helper.from_array(np.array(0, dtype=dtype), f"zero{l}"),
                      numpy_helper.from_array(np.array(alpha, dtype=dtype), f"alpha{l}")]
            nodes += [helper.make_node("Greater", [z, f"zero{l}"], [f"positive{l}"], name=f"layer{l}/Greater"),
                      helper.make_node("Mul", [z, f"alpha{l}"], [f"scaled{l}"], name=f"layer{l}/Mul"),
                      helper.make_node("Where", [f"positive{l}", z, f"scaled{l}"], [out], name=f"layer{l}/Where")]
    elif name == "softmax":
        nodes.append(helper.make_node("Softmax", [z], [out], name=f"layer{l}/Softmax", axis=-1))
    else:
        nodes.append(helper.make_node(_OPS[name], [z], [out], name=f"layer{l}/{_OPS[name]}"))


def _label_nodes(net: Network, outputs: str, nodes: list[NodeProto], inits: list[TensorProto],
                 onnx: ModuleType, helper: ModuleType, numpy_helper: ModuleType) -> None:
    """Network.classes as ONNX: ArgMax over the outputs, or one output above its threshold."""
    if net.n_out >= 2:
        # on the outputs themselves, logits included: the decision predict_classes takes
        # (softmax could round two different logits to one probability)
        nodes.append(helper.make_node("ArgMax", [outputs], ["label"], name="label/ArgMax", axis=1, keepdims=0))
        return
    threshold = 0.0 if net.loss_fn.from_logits else 0.5       # z > 0 is sigma(z) > 1/2, without rounding
    inits += [numpy_helper.from_array(np.array(threshold, dtype=net.dtype), "threshold"),
              numpy_helper.from_array(np.array([1], dtype=np.int64), "label_axes")]
    nodes += [helper.make_node("Greater", [outputs, "threshold"], ["label_above"], name="label/Greater"),
              helper.make_node("Cast", ["label_above"], ["label_int"], name="label/Cast",
                               to=onnx.TensorProto.INT64),
              helper.make_node("Squeeze", ["label_int", "label_axes"], ["label"], name="label/Squeeze")]


# -- import -------------------------------------------------------------------------------

def from_onnx(path: str | os.PathLike, *, loss: str | Loss | dict[str, Any] | None = None) -> Network:
    """The network an ONNX model at ``path`` holds.

    Reads two kinds of graph, a single chain from one input ``(batch, n_in)``:

    * those :func:`export_onnx` writes: their ``"deltaprop"`` metadata restores the loss,
      each activation's exact parameters, dropout and fixed biases, and the weights come
      back bit for bit (the probabilities appended for a ``from_logits`` loss, and the
      label nodes, are recognised and left out);
    * the common forms of other exporters: per layer ``Gemm`` (``transB`` 0 or 1,
      ``alpha = beta = 1``, with or without its bias ``C``) or ``MatMul`` with an
      ``(n_in, n_out)`` initializer, then optionally ``Add`` of an ``(n_out,)`` or
      ``(1, n_out)`` bias, then optionally one of ``Sigmoid, Relu, Tanh, LeakyRelu,
      PRelu`` (one slope), ``Softmax`` (last axis), ``Identity``. A layer without an
      activation is an identity layer; a layer without a bias gets a zero bias.

    Weights must be initializers (or ``Constant`` nodes) of float32 or float64, all of
    one dtype, which becomes the network's. Any other graph is refused with an error
    naming the node (its index and operator).

    Args:
        path: an ``.onnx`` file.
        loss: the network's loss; by default the one in deltaprop's metadata, else
            ``"quadratic"`` (it fits any output layer).
    """
    onnx, helper, numpy_helper = _onnx()
    path = _files.as_path(path, "path")
    with _files.open_for_reading(path, what="ONNX file") as f:
        data = f.read()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:        # protobuf's DecodeError and its relatives: not an ONNX file at all
        raise DataError(f"'{path}' is not an ONNX model (protobuf could not parse it: {e}).") from None
    if model.ir_version < 1 or not model.HasField("graph") or not model.graph.node:
        raise DataError(f"'{path}' is not an ONNX model (it holds no graph).")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise DataError(f"'{path}' is not a valid ONNX model: {str(e).strip().splitlines()[0]}") from None
    header = _header(model, path)
    layers, dtype = _read_chain(model.graph, onnx, numpy_helper, f"'{path}'")
    if header is None:
        return Network([Dense(W.shape[1], W.shape[0], act, W=W, b=b, dtype=dtype) for W, b, act in layers],
                       loss="quadratic" if loss is None else loss)
    spec = parse_network(header)
    if isinstance(spec["loss"], dict) and spec["loss"].get("from_logits"):
        # the probabilities export_onnx appended after the identity output layer read as its
        # activation: the network's own output layer is the identity (z^L, the logits)
        probability = "sigmoid" if spec["loss"]["name"] == "binary_cross_entropy" else "softmax"
        W, b, act = layers[-1]
        if act["name"] == probability:
            layers[-1] = (W, b, {"name": "identity"})
    _check_matches(spec, layers, dtype, path)
    net = Network([Dense(s["n_in"], s["n_out"], s["activation"], W=W, b=b, fixed_bias=s["fixed_bias"],
                         dtype=dtype, **({"dropout": s["dropout"]} if s["dropout"] else {}))
                   for s, (W, b, _) in zip(spec["layers"], layers)],
                  loss=spec["loss"] if loss is None else loss)
    if spec.get("feature_names") is not None:      # format version 3: the inputs' names
        net.feature_names = spec["feature_names"]
    return net


def _header(model: ModelProto, path: Path) -> dict[str, Any] | None:
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        return None
    try:
        header = json.loads(props[METADATA_KEY])
    except ValueError as e:
        raise DataError(f"'{path}': its metadata entry {METADATA_KEY!r} is not JSON ({e}).") from None
    if not isinstance(header, dict):
        raise DataError(f"'{path}': its metadata entry {METADATA_KEY!r} is not a deltaprop header "
                        f"(a {type(header).__name__}).")
    try:
        check_header(header)
    except DataError as e:
        raise DataError(f"'{path}': its metadata entry {METADATA_KEY!r} is not a deltaprop header: {e}") from None
    return header


def _read_chain(graph: GraphProto, onnx: ModuleType, numpy_helper: ModuleType,
                where: str) -> tuple[list[tuple[np.ndarray, np.ndarray, dict[str, Any]]], np.dtype]:
    """``([(W (n_out, n_in), b (n_out,), activation config), ...], dtype)`` of a chain graph."""
    consts: dict[str, np.ndarray] = {}
    for init in graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            raise DataError(f"{where}: its initializer {init.name!r} keeps its data in an external file; deltaprop "
                            "reads models that hold their weights themselves.")
        consts[init.name] = numpy_helper.to_array(init)
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise DataError(f"{where}: the graph has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); a "
                        "deltaprop network takes one, (batch, n_in).")
    current = inputs[0].name
    chain, label_tensors = {current}, set()
    layers: list[list[Any]] = []     # [W, b or None, activation config or None] per layer
    previous = None      # the operator that made `current`
    nodes, skip = list(graph.node), 0
    for i, node in enumerate(nodes):
        if skip:
            skip -= 1
            continue
        op = node.op_type
        at = f"{where}: node {i} ({op}{f' {node.name!r}' if node.name else ''})"
        if node.domain not in ("", "ai.onnx"):
            raise DataError(f"{at} is from the operator set {node.domain!r}; deltaprop reads standard ONNX operators.")
        if op == "Constant":
            attr = {a.name: a for a in node.attribute}
            if "value" not in attr:
                raise DataError(f"{at} holds no tensor 'value'; deltaprop reads tensor constants only.")
            consts[node.output[0]] = numpy_helper.to_array(attr["value"].t)
            continue
        data = [x for x in node.input if x and x not in consts]
        alpha = _where_leaky_relu(nodes[i:i + 3], current, consts)
        if alpha is not None:            # export_onnx's exact float64 leaky_relu: three nodes
            if not layers or layers[-1][2] is not None:
                raise DataError(f"{at} begins a leaky_relu without a Gemm or MatMul before it.")
            layers[-1][2] = {"name": "leaky_relu", "alpha": alpha}
            current, previous, skip = nodes[i + 2].output[0], "Where", 2
            chain.add(current)
            continue
        if op in _LABEL_OPS and data and all(x in chain or x in label_tensors for x in data):
            label_tensors.update(node.output)        # a decision on the outputs: not part of the network
            continue
        if data != [current]:
            raise DataError(f"{at} takes {data or 'only constants'}, not the output {current!r} of the node before: "
                            "deltaprop reads a single chain of layers (Gemm or MatMul + Add, then an activation).")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if op == "Gemm":
            for key, want in (("alpha", 1.0), ("beta", 1.0), ("transA", 0)):
                if attrs.get(key, want) != want:
                    raise DataError(f"{at} has {key}={attrs[key]}; deltaprop reads Gemm with alpha=1, beta=1, transA=0.")
            W = _matrix(consts, node.input[1], at, "its B (the weights)")
            W = W if attrs.get("transB", 0) else W.T       # W as the layer holds it: (n_out, n_in)
            b = _bias(consts, node.input[2], W.shape[0], at) if len(node.input) > 2 and node.input[2] else None
            layers.append(_new_layer(W, b, layers, at))
        elif op == "MatMul":
            # X W with W (n_in, n_out), the rows' form: the layer holds its transpose
            W = _matrix(consts, node.input[1], at, "its second input (the weights)")
            layers.append(_new_layer(W.T, None, layers, at))
        elif op == "Add":
            if previous != "MatMul":
                raise DataError(f"{at} does not follow a MatMul: deltaprop reads Add as the bias of the MatMul just "
                                "before it.")
            other = [x for x in node.input if x != current]
            if len(other) != 1:
                raise DataError(f"{at} adds {list(node.input)}; a layer's bias is one constant.")
            layers[-1][1] = _bias(consts, other[0], layers[-1][0].shape[0], at)
        elif op in _ACTIVATION_OPS:
            if not layers or layers[-1][2] is not None:
                raise DataError(f"{at} is an activation without a Gemm or MatMul before it (or a second activation "
                                "in a row); each layer of a deltaprop network is one linear map, then one activation.")
            layers[-1][2] = _activation(op, attrs, node, consts, at)
        elif op != "Identity":
            raise DataError(f"{at} is not an operator deltaprop reads. A network of Dense layers is Gemm (or MatMul "
                            f"+ Add), then one of {', '.join(sorted(_ACTIVATION_OPS))} or none, per layer.")
        current = node.output[0]
        chain.add(current)
        previous = op
    if not layers:
        raise DataError(f"{where}: the graph has no Gemm or MatMul, so no layer.")
    outputs = [o.name for o in graph.output]
    if current not in outputs or any(o not in chain and o not in label_tensors for o in outputs):
        raise DataError(f"{where}: the graph's outputs {outputs} are not the end of its chain of layers "
                        f"({current!r}) and decisions on it.")
    dtypes = {a.dtype for W, b, _ in layers for a in (W, b) if a is not None}
    if len(dtypes) != 1 or next(iter(dtypes)) not in (np.float32, np.float64):
        raise DataError(f"{where}: its weights are {sorted(map(str, dtypes))}; deltaprop reads float32 or float64 "
                        "weights, all of one dtype.")
    dtype = next(iter(dtypes))
    input_dtype = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.DOUBLE: np.float64}.get(
        inputs[0].type.tensor_type.elem_type)
    if input_dtype != dtype:
        raise DataError(f"{where}: its input {inputs[0].name!r} is not of the weights' dtype {dtype.name}.")
    dims = inputs[0].type.tensor_type.shape.dim
    n_in = layers[0][0].shape[1]
    if len(dims) != 2 or (dims[1].HasField("dim_value") and dims[1].dim_value != n_in):
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
        raise DataError(f"{where}: its input {inputs[0].name!r} has shape {shape}; the first layer takes "
                        f"(batch, {n_in}).")
    return [(W, np.zeros(W.shape[0], dtype) if b is None else b, act or {"name": "identity"})
            for W, b, act in layers], dtype


def _where_leaky_relu(nodes: Sequence[NodeProto], z: str, consts: Mapping[str, np.ndarray]) -> float | None:
    """alpha, if ``nodes`` are Greater(z, 0), Mul(z, alpha), Where(that, z, this)."""
    if len(nodes) < 3 or [n.op_type for n in nodes] != ["Greater", "Mul", "Where"]:
        return None
    greater, mul, where = nodes

    def scalar(name: str) -> float | None:
        value = consts.get(name)
        return None if value is None or np.size(value) != 1 else float(np.ravel(value)[0])

    if len(greater.input) != 2 or greater.input[0] != z or scalar(greater.input[1]) != 0:
        return None
    others = [x for x in mul.input if x != z]
    if len(mul.input) != 2 or len(others) != 1 or scalar(others[0]) is None:
        return None
    if list(where.input) != [greater.output[0], z, mul.output[0]]:
        return None
    return scalar(others[0])


def _const(consts: Mapping[str, np.ndarray], name: str, at: str, what: str) -> np.ndarray:
    if name not in consts:
        raise DataError(f"{at}: {what} {name!r} is not an initializer or a Constant; deltaprop reads fixed weights.")
    return np.asarray(consts[name])


def _matrix(consts: Mapping[str, np.ndarray], name: str, at: str, what: str) -> np.ndarray:
    W = _const(consts, name, at, what)
    if W.ndim != 2:
        raise DataError(f"{at}: its weights {name!r} have shape {W.shape}; a layer's are a matrix.")
    return W


def _bias(consts: Mapping[str, np.ndarray], name: str, n_out: int, at: str) -> np.ndarray:
    b = _const(consts, name, at, "its bias")
    if b.shape not in ((n_out,), (1, n_out)):
        raise DataError(f"{at}: its bias {name!r} has shape {b.shape}; the layer's is ({n_out},).")
    return b.reshape(n_out)


def _new_layer(W: np.ndarray, b: np.ndarray | None, layers: list[list[Any]], at: str) -> list[Any]:
    if layers and layers[-1][0].shape[0] != W.shape[1]:
        raise DataError(f"{at} takes {W.shape[1]} inputs, but the layer before gives {layers[-1][0].shape[0]}.")
    if layers and layers[-1][2] is None:
        layers[-1][2] = {"name": "identity"}          # two linear maps in a row: the first had no activation
    return [W, b, None]


def _activation(op: str, attrs: Mapping[str, Any], node: NodeProto, consts: Mapping[str, np.ndarray],
                at: str) -> dict[str, Any]:
    name = _ACTIVATION_OPS[op]
    if op == "LeakyRelu":
        return {"name": name, "alpha": float(attrs.get("alpha", 0.01))}
    if op == "PRelu":
        slope = _const(consts, node.input[1], at, "its slope")
        if slope.size != 1:
            raise DataError(f"{at} has {slope.size} slopes; deltaprop's leaky_relu has one alpha for the layer.")
        return {"name": name, "alpha": float(slope.ravel()[0])}
    if op == "Softmax" and attrs.get("axis", -1) not in (-1, 1):
        raise DataError(f"{at} normalises over axis {attrs['axis']}; a layer's softmax is over its units (axis -1).")
    return {"name": name}


def _check_matches(spec: Mapping[str, Any], layers: Sequence[tuple[np.ndarray, np.ndarray, dict[str, Any]]],
                   dtype: np.dtype, path: Path) -> None:
    """The graph must be the network deltaprop's metadata describes (else it was edited)."""
    graph = [(W.shape[1], W.shape[0], act["name"]) for W, _, act in layers]
    header = [(s["n_in"], s["n_out"], s["activation"]["name"]) for s in spec["layers"]]
    if graph != header or np.dtype(spec["dtype"]) != dtype:
        raise DataError(f"'{path}': its deltaprop metadata describes the layers {header} ({spec['dtype']}) but the "
                        f"graph holds {graph} ({dtype}): the graph was changed after export. Remove the metadata "
                        f"entry {METADATA_KEY!r} to read the graph alone.")
    for s, (_, _, act) in zip(spec["layers"], layers):
        if s["activation"]["name"] == "leaky_relu" and not np.isclose(act["alpha"], s["activation"]["alpha"],
                                                                      rtol=1e-6, atol=0):
            raise DataError(f"'{path}': a leaky_relu of the graph has alpha {act['alpha']}, its deltaprop metadata "
                            f"{s['activation']['alpha']}: the graph was changed after export.")

