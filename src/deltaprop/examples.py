"""The seeds' worked examples, ready to run.

* :func:`mazur` - the 2-2-2 sigmoid network with quadratic error that
  ``002_56bd98b6111f8107.txt`` (after Matt Mazur's "A Step by Step Backpropagation
  Example") works through by hand, with the source's weights and fixed biases.
* :func:`kaist` - the 2-2-1 sigmoid network with binary cross-entropy of the KAIST
  CoE202 lecture (``001_7fed4c401f961d13.txt``), which derives each chain-rule term
  symbolically; the weights here are our own choice.

Each returns a :class:`WorkedExample` with ``.net`` (float64), ``.x`` and ``.y`` (one
row each), ``.lr`` and the source's names for every weight. ``docs/errata.md``
explains where the sources' own figures are wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .layers import Dense
from .network import Network


@dataclass
class WorkedExample:
    """A small network with its one training example, as a source presents it."""

    net: Network
    x: np.ndarray                  # (1, n_in): one example, as a row
    y: np.ndarray                  # (1, n_out)
    lr: float                      # the source's learning rate (eta)
    source: str                    # the seed file it comes from
    # source name -> (layer, "W"/"b", index)
    names: dict[str, tuple[int, str, tuple[int, ...]]] = field(default_factory=dict)
    printed: dict[str, str] = field(default_factory=dict)   # source name -> figure as printed

    def param(self, name: str) -> float:
        """The current value of the parameter the source calls ``name`` (e.g. ``"w5"``)."""
        layer, kind, index = self.names[name]
        return float(getattr(self.net.layers[layer], kind)[index])


#: What each lecture note is, by the name of its file among the seeds.
SOURCE_TITLES = {
    "000_289635d1784e5639.txt": 'the slides "Neural Network Backpropagation" (in Nielsen\'s notation)',
    "001_7fed4c401f961d13.txt": 'the KAIST CoE202 lecture "Backpropagation in Neural Network" (Y.-G. Yoon)',
    "002_56bd98b6111f8107.txt": 'Matt Mazur\'s "A Step by Step Backpropagation Example"',
    "003_46327547b8aaf2f7.txt": 'John Purcell\'s note "Backpropagation"',
    "004_379d9235c7dfa996.txt": 'Leander Kurscheidt\'s slides "Backpropagation"',
}

#: Every figure 002_56bd98b6111f8107.txt prints for its 2-2-2 example, as printed.
#: Two of them are wrong (see docs/errata.md): "E_total_after_1" and "E_total_after_10000".
MAZUR_PRINTED = {
    "net_h1": "0.3775", "out_h1": "0.593269992", "out_h2": "0.596884378",
    "net_o1": "1.105905967", "out_o1": "0.75136507", "out_o2": "0.772928465",
    "E_o1": "0.274811083", "E_o2": "0.023560026", "E_total": "0.298371109",
    "dE_total/dout_o1": "0.74136507", "dout_o1/dnet_o1": "0.186815602", "dnet_o1/dw5": "0.593269992",
    "dE_total/dw5": "0.082167041", "w5+": "0.35891648", "w6+": "0.408666186", "w7+": "0.511301270",
    "w8+": "0.561370121",
    "dE_o1/dnet_o1": "0.138498562", "dE_o1/dout_h1": "0.055399425", "dE_o2/dout_h1": "-0.019049119",
    "dE_total/dout_h1": "0.036350306", "dout_h1/dnet_h1": "0.241300709", "dnet_h1/dw1": "0.05",
    "dE_total/dw1": "0.000438568", "w1+": "0.149780716", "w2+": "0.19956143", "w3+": "0.24975114",
    "w4+": "0.29950229",
    "E_total_after_1": "0.291027924", "E_total_after_10000": "0.0000351085",
}


def mazur() -> WorkedExample:
    """The 2-2-2 worked example of ``002_56bd98b6111f8107.txt``.

    Inputs i1 = 0.05, i2 = 0.10; targets o1 = 0.01, o2 = 0.99; learning rate 0.5.
    w1..w4 feed the hidden layer (w1: i1->h1, w2: i2->h1, w3: i1->h2, w4: i2->h2, the
    indexing of the source's forward pass and of its printed updates), w5..w8 the
    output (w5: h1->o1, w6: h2->o1, w7: h1->o2, w8: h2->o2). One bias per layer,
    b1 = 0.35 (the overview's "b1 = 0.3" is a typo: every computation uses 0.35) and
    b2 = 0.60, shared by the layer's neurons and never updated, so both layers
    hold their bias fixed.

    >>> ex = mazur()
    >>> round(ex.net.loss(ex.x, ex.y), 9)
    0.298371109
    """
    net = Network([
        Dense(2, 2, "sigmoid", W=[[0.15, 0.20], [0.25, 0.30]], b=0.35, fixed_bias=True),
        Dense(2, 2, "sigmoid", W=[[0.40, 0.45], [0.50, 0.55]], b=0.60, fixed_bias=True),
    ], loss="quadratic")
    names: dict[str, tuple[int, str, tuple[int, ...]]] = {f"w{i + 1}": (i // 4, "W", divmod(i % 4, 2))
                                                          for i in range(8)}
    names.update({"b1": (0, "b", (0,)), "b2": (1, "b", (0,))})
    return WorkedExample(net=net, x=np.array([[0.05, 0.10]]), y=np.array([[0.01, 0.99]]), lr=0.5,
                         source="002_56bd98b6111f8107.txt", names=names, printed=dict(MAZUR_PRINTED))


def kaist() -> WorkedExample:
    """The 2-2-1 network of ``001_7fed4c401f961d13.txt``: sigmoid h, binary cross-entropy.

    The lecture names inputs x11, x12; hidden outputs x21 = y11, x22 = y12; the output
    y_hat = x31 = y21; first-layer weights w11, w12, w21, w22 with biases w1b, w2b
    (W_1 and B_1); output weights w1, w2 with bias w3b. It derives every term
    symbolically and prints no numbers, so the values below are our own choice.
    """
    net = Network([
        Dense(2, 2, "sigmoid", W=[[0.10, -0.20], [0.40, 0.30]], b=[0.05, -0.10]),
        Dense(2, 1, "sigmoid", W=[[0.70, -0.50]], b=[0.20]),
    ], loss="binary_cross_entropy")
    names: dict[str, tuple[int, str, tuple[int, ...]]] = {
        "w11": (0, "W", (0, 0)), "w12": (0, "W", (0, 1)), "w21": (0, "W", (1, 0)),
        "w22": (0, "W", (1, 1)), "w1b": (0, "b", (0,)), "w2b": (0, "b", (1,)),
        "w1": (1, "W", (0, 0)), "w2": (1, "W", (0, 1)), "w3b": (1, "b", (0,))}
    return WorkedExample(net=net, x=np.array([[0.5, -1.0]]), y=np.array([[1.0]]), lr=0.5,
                         source="001_7fed4c401f961d13.txt", names=names)
