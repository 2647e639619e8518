"""deltaprop: fully-connected neural networks trained by backpropagation, exactly as
the lecture notes derive it (BP1-BP4), and fast enough for real data.

>>> import deltaprop as dp
>>> net = dp.Network([2, 2, 2], activation="sigmoid", loss="quadratic", seed=0)
>>> [W.shape for W, b in net.gradients([[0.05, 0.10]], [[0.01, 0.99]])]
[(2, 2), (2, 2)]
"""

from typing import Any

from . import activations, callbacks, datasets, examples, initializers, losses, optimizers, schedules
from . import data
from .errors import (DataError, DeltapropError, DeltapropTypeError, NonFiniteError, ShapeError,
                     UnknownNameError, ValidationError)
from .gradcheck import GradcheckReport, gradcheck
from .explain import Trace, explain
from .io import load
from .layers import Dense
from .losses import one_hot
from .network import Network
from .optimizers import SGD, Adam
from ._onnx import from_onnx          # these three import onnx, torch, scikit-learn only when called
from ._sklearn import from_sklearn
from ._torch import from_torch
from .training import History, Trainer

__version__ = "0.1.0"

__all__ = [
    "Adam", "DataError", "Dense", "DeltapropError", "DeltapropTypeError", "GradcheckReport", "History", "Network",
    "NonFiniteError", "SGD", "ShapeError", "UnknownNameError", "ValidationError", "activations",
    "callbacks", "data", "datasets", "examples", "explain", "from_onnx", "from_sklearn", "from_torch", "Trace", "gradcheck", "initializers", "load", "losses", "one_hot", "optimizers",
    "schedules", "Trainer", "__version__",
]


def __getattr__(name: str) -> Any:
    """``dp.plotting``, ``dp.estimators`` and ``dp.why`` load on first use, so that
    ``import deltaprop`` never imports matplotlib or scikit-learn (optional extras)."""
    if name in ("estimators", "plotting", "why"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'deltaprop' has no attribute {name!r}")
