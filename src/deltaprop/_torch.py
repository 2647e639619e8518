"""Networks to and from PyTorch: :func:`to_torch` (``Network.to_torch``) and :func:`from_torch`.

A deltaprop network of L layers is, in PyTorch, a ``torch.nn.Sequential`` of L
``Linear`` modules, each followed by its activation's module:

==============  =============================  ==============================================
deltaprop       PyTorch                        note
==============  =============================  ==============================================
Dense W, b      ``nn.Linear`` weight, bias     both (n_out, n_in) and (n_out,): no transpose
sigmoid         ``nn.Sigmoid()``
relu            ``nn.ReLU()``
tanh            ``nn.Tanh()``
identity        ``nn.Identity()``
leaky_relu      ``nn.LeakyReLU(alpha)``
softmax         ``nn.Softmax(dim=-1)``             over each row's units
dropout p       ``nn.Dropout(p)`` after the        inverted dropout of the layer's outputs, as
                activation                         deltaprop's (only in training mode)
fixed_bias      ``bias.requires_grad = False``     ``Linear(bias=False)`` reads as a fixed zero bias
==============  =============================  ==============================================

Rows are examples on both sides: the module maps ``(N, n_in)`` to ``(N, n_out)``, as
:meth:`Network.predict`. The dtype is kept (a float64 network gives double modules).
The module returns what ``predict`` returns: for a ``from_logits`` loss the logits,
which PyTorch's ``BCEWithLogitsLoss`` and ``CrossEntropyLoss`` take. The losses
themselves are not modules of the Sequential; the PyTorch forms of deltaprop's costs
(each the mean over the batch's examples of a sum over the outputs) are:

* quadratic: ``0.5 * n_out * nn.MSELoss()(a, y)`` (MSELoss averages over the outputs too);
* binary_cross_entropy: ``n_out * nn.BCELoss()(a, y)``, from logits
  ``n_out * nn.BCEWithLogitsLoss()(z, y)``;
* cross_entropy: ``nn.NLLLoss()(log(a), labels)``, from logits ``nn.CrossEntropyLoss()(z, y)``.

Both need the optional extra ``pip install "deltaprop[torch]"``; ``import deltaprop``
never imports PyTorch. Tested with torch 2.13.0.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from . import activations, losses
from .errors import DeltapropTypeError, ValidationError
from .layers import Dense
from .network import Network

if TYPE_CHECKING:
    import torch

_HINT = 'Converting to or from PyTorch needs torch, an optional extra: pip install "deltaprop[torch]"'


def _torch() -> ModuleType:
    try:
        import torch
    except ImportError:
        raise ImportError(_HINT, name="torch") from None
    return torch


def _modules(nn: Any) -> dict[str, Callable[[Any], Any]]:
    """deltaprop activation name -> the PyTorch module that computes it."""
    return {"sigmoid": lambda a: nn.Sigmoid(), "relu": lambda a: nn.ReLU(), "tanh": lambda a: nn.Tanh(),
            "identity": lambda a: nn.Identity(), "leaky_relu": lambda a: nn.LeakyReLU(a.alpha),
            "softmax": lambda a: nn.Softmax(dim=-1)}


def to_torch(net: Network) -> torch.nn.Sequential:
    """``net`` as a ``torch.nn.Sequential`` of ``Linear`` and activation modules.

    Same weights (copies: the two do not share memory), same dtype, same function:
    ``module(torch.from_numpy(X))`` is ``net.predict(X)`` (rows ``(N, n_in) -> (N, n_out)``)
    up to the rounding of the matrix products, and the gradients of the equivalent
    PyTorch loss (this module's docstring) are :meth:`Network.gradients`. The module is
    in training mode, as every new module: call ``.eval()`` before predicting with one
    that has dropout.

    >>> import deltaprop as dp
    >>> dp.Network([2, 3, 1], activation="tanh", loss="binary_cross_entropy", seed=0).to_torch()
    Sequential(
      (0): Linear(in_features=2, out_features=3, bias=True)
      (1): Tanh()
      (2): Linear(in_features=3, out_features=1, bias=True)
      (3): Sigmoid()
    )
    """
    torch = _torch()
    nn = torch.nn
    if not isinstance(net, Network):
        raise DeltapropTypeError(f"The 'net' argument must be a deltaprop Network. Got {type(net).__name__} instead.")
    dtype = torch.float64 if net.dtype == np.float64 else torch.float32
    make = _modules(nn)
    modules = []
    for i, layer in enumerate(net.layers):
        name = layer.activation.name
        if name not in make:
            raise ValidationError(f"Layer {i}'s activation {name!r} has no PyTorch module in deltaprop's conversion. "
                                  f"Activations it converts: {', '.join(make)}.")
        # skip_init: no weights drawn from PyTorch's global generator, only to be overwritten
        linear = nn.utils.skip_init(nn.Linear, layer.n_in, layer.n_out, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(layer.W))
            linear.bias.copy_(torch.from_numpy(layer.b))
        linear.bias.requires_grad_(not layer.fixed_bias)
        modules += [linear, make[name](layer.activation)]
        if layer.dropout:
            modules.append(nn.Dropout(layer.dropout))
    return nn.Sequential(*modules)


def from_torch(module: torch.nn.Sequential, *,
               loss: str | losses.Loss | dict[str, Any] = "quadratic") -> Network:
    """The deltaprop network a ``torch.nn.Sequential`` computes.

    ``module`` holds ``Linear`` modules, each followed by at most one of ``Sigmoid``,
    ``ReLU``, ``Tanh``, ``Identity``, ``LeakyReLU``, ``Softmax(dim=-1)`` (a Linear with
    none, or followed by another Linear, is an identity layer) and then optionally
    ``Dropout``. A ``Linear(bias=False)`` becomes a layer with a fixed zero bias (it
    computes the same and is never trained, as in PyTorch); a bias with
    ``requires_grad=False`` a fixed bias. All Linear modules must be float32 or float64,
    of one dtype, which becomes the network's. Anything else is refused, naming the
    module's position and class. The weights are copied.

    Args:
        module: the ``nn.Sequential``.
        loss: the network's loss (a PyTorch module holds none), as :class:`Network`
            takes it; the default, ``"quadratic"``, fits any output layer.
    """
    torch = _torch()
    nn = torch.nn
    if not isinstance(module, nn.Sequential):
        raise DeltapropTypeError(f"The 'module' argument must be a torch.nn.Sequential of Linear and activation "
                                 f"modules. Got {type(module).__name__} instead.")
    if len(module) == 0:
        raise ValidationError("The 'module' argument is an empty nn.Sequential; it needs at least one Linear.")
    known = {nn.Sigmoid: "sigmoid", nn.ReLU: "relu", nn.Tanh: "tanh", nn.Identity: "identity",
             nn.LeakyReLU: "leaky_relu", nn.Softmax: "softmax"}
    names = "Linear, " + ", ".join(k.__name__ for k in known) + " and Dropout"
    layers: list[list[Any]] = []     # [W, b, fixed_bias, activation or None, dropout, position of the Linear]
    dtype = None
    for i, m in enumerate(module):
        at = f"module {i} ({type(m).__name__})"
        if isinstance(m, nn.Linear):
            if m.weight.dtype not in (torch.float32, torch.float64):
                raise ValidationError(f"{at} is {m.weight.dtype}; deltaprop networks are float32 or float64. "
                                      "Convert the module first, e.g. module.double().")
            if dtype is not None and m.weight.dtype != dtype:
                raise ValidationError(f"{at} is {m.weight.dtype} but the Linear modules before it are {dtype}; "
                                      "a deltaprop network has one dtype. Convert the module first, e.g. "
                                      "module.double().")
            dtype = m.weight.dtype
            W = m.weight.detach().cpu().numpy()                  # (out_features, in_features): Dense's W
            if layers and layers[-1][0].shape[0] != W.shape[1]:
                raise ValidationError(f"{at} takes {W.shape[1]} inputs, but the Linear before it (module "
                                      f"{layers[-1][5]}) gives {layers[-1][0].shape[0]}.")
            if layers and layers[-1][3] is None:
                layers[-1][3] = "identity"
            if m.bias is None:
                b, fixed = np.zeros(W.shape[0], W.dtype), True
            else:
                b, fixed = m.bias.detach().cpu().numpy(), not m.bias.requires_grad
            layers.append([W, b, fixed, None, 0.0, i])
        elif type(m) in known:       # the classes themselves: a subclass may compute something else
            if not layers:
                raise ValidationError(f"{at} comes before any Linear; each deltaprop layer is a Linear, then its "
                                      "activation.")
            if layers[-1][3] is not None and not (type(m) is nn.Identity and not layers[-1][4]):
                raise ValidationError(f"{at} follows {'Dropout' if layers[-1][4] else 'another activation'}; a "
                                      "deltaprop layer is one Linear, then one activation, then optionally Dropout.")
            if type(m) is nn.Identity and layers[-1][3] is not None:
                continue                           # identity after an activation changes nothing
            if type(m) is nn.Softmax and m.dim not in (-1, 1):
                raise ValidationError(f"{at} normalises over dim={m.dim}; a layer's softmax is over each row's "
                                      "units: nn.Softmax(dim=-1).")
            name = known[type(m)]
            layers[-1][3] = activations.get({"name": name, "alpha": float(m.negative_slope)}) \
                if name == "leaky_relu" else name
        elif type(m) is nn.Dropout:
            if not layers or layers[-1][4]:
                raise ValidationError(f"{at} does not follow a layer; deltaprop drops a layer's outputs after its "
                                      "activation.")
            if layers[-1][3] is None:
                layers[-1][3] = "identity"
            layers[-1][4] = float(m.p)
        else:
            raise ValidationError(f"{at} is not a module deltaprop converts: from_torch reads {names}.")
    np_dtype = "float64" if dtype == torch.float64 else "float32"
    return Network([Dense(W.shape[1], W.shape[0], act or "identity", W=W, b=b, fixed_bias=fixed, dtype=np_dtype,
                          **({"dropout": p} if p else {}))
                    for W, b, fixed, act, p, _ in layers], loss=loss)
