"""How a trace of backpropagation is shown - the notes' notations, and the formats.

:mod:`deltaprop.explain` records a step; this room only shows it. It reads a trace's
arrays and prints them: it computes nothing but the *display* of a chain-rule product,
whose factors are cached quantities (dC/da, sigma'(z), a^{l-1}) and whose result is the
cached delta or dW printed beside them.

A rendering is built once as a short document - titles, paragraphs, equations, tables
(and, for HTML, a drawing of the network) - whose equations are lists of tokens
(symbols, numbers, matrices, operators). Each token knows its plain-text, TeX and
HTML form, so the four formats say exactly the same thing:

* ``text``: Unicode for a terminal; matrices drawn over several lines.
* ``markdown``: headings and tables, equations as ``$$ ... $$`` TeX blocks.
* ``latex``: a complete document (``article`` + ``amsmath``), pure ASCII.
* ``html``: one self-contained page (inline CSS and SVG, no external URL) with the
  network drawn before and after the update.

Notations (the symbols of three of the seeds): ``nielsen`` (seed 000: w^l_jk, z^l,
a^l, delta^l, the input is layer 1), ``kaist`` (seed 001: x_mk, W_m, B_m, z_mn, y_mn,
the loss 𝓛) and ``mazur`` (seed 002: i, h, o, net, out, w1..w8, E_total).
"""

from __future__ import annotations

import html as _html
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, Protocol, TypeAlias, cast, overload

import numpy as np

from .errors import ValidationError, did_you_mean


# -- what is rendered: a deltaprop.explain.Trace, known by its fields (explain imports this module) --

class LayerRecord(Protocol):
    """One layer of one step of a trace (:class:`deltaprop.explain.LayerTrace`)."""

    activation: str
    fixed_bias: bool
    W: np.ndarray
    b: np.ndarray
    A_prev: np.ndarray
    Z: np.ndarray
    A: np.ndarray
    dA: np.ndarray | None
    prime: np.ndarray
    D: np.ndarray
    dW: np.ndarray
    db: np.ndarray
    W_new: np.ndarray
    b_new: np.ndarray
    Z_new: np.ndarray
    A_new: np.ndarray

    @property
    def n_in(self) -> int: ...
    @property
    def n_out(self) -> int: ...


class StepRecord(Protocol):
    """One round of a trace (:class:`deltaprop.explain.StepTrace`)."""

    round: int
    cost: float
    cost_terms: np.ndarray | None
    loss_grad: np.ndarray | None
    cost_after: float

    @property
    def layers(self) -> Sequence[LayerRecord]: ...


class TraceRecord(Protocol):
    """What :func:`render` draws: a :class:`deltaprop.explain.Trace`."""

    sizes: list[int]
    loss: str
    fused: bool
    dtype: str
    optimizer: dict[str, Any]
    X: np.ndarray
    Y: np.ndarray
    rounds: dict[int, float]
    names: dict[str, tuple[int, str, tuple[int, ...]]]
    printed: dict[str, str]
    errata: dict[str, str]
    notes: list[str]
    source: str

    @property
    def steps(self) -> Sequence[StepRecord]: ...
    @property
    def m(self) -> int: ...
    @property
    def n_params(self) -> int: ...
    @property
    def plain_sgd(self) -> bool: ...

FORMATS = ("text", "markdown", "latex", "html")
LEVELS = ("matrix", "neuron")
NOTATIONS = ("nielsen", "kaist", "mazur")

ERRATA_PAGE = "docs/errata.md"


def _title(source: str) -> str:
    """A lecture note by what it is (its title), not by its file name."""
    from .examples import SOURCE_TITLES
    return SOURCE_TITLES.get(source, source)
LINE_WIDTH = 100


def check_choice(argument: str, value: object, choices: Collection[str]) -> str:
    """``value`` if it is one of ``choices``, else a clear error with the closest name."""
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(f"The '{argument}' argument must be one of {', '.join(map(repr, choices))}. "
                              f"Got {value!r} instead. {did_you_mean(str(value), choices)}")
    return value


# -- numbers ------------------------------------------------------------------------

def fmt(value: float, precision: int = 9) -> str:
    """A number as the worked example prints it: ``precision`` decimals, trailing zeros cut.

    Below 1e-4 the decimals grow so that ``precision`` significant digits remain.

    >>> fmt(0.7513650695523157), fmt(0.3775), fmt(3.5101878e-05), fmt(-0.0190491182643), fmt(1.0)
    ('0.75136507', '0.3775', '0.000035101878', '-0.019049118', '1')
    """
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    a = abs(v)
    if 1e-4 <= a < 1e7:
        s = np.format_float_positional(v, precision=precision, unique=False, fractional=True, trim="-")
    elif 1e-12 <= a < 1e-4:
        s = np.format_float_positional(v, precision=precision, unique=False, fractional=False, trim="-")
    else:
        s = f"{v:.{max(precision - 1, 1)}e}"
    return "0" if s in ("-0", "0.") else s


def agrees(value: float, printed: str) -> bool:
    """``value`` rounds to ``printed`` at the number of decimals printed.

    >>> agrees(0.2910277737, "0.291027774"), agrees(0.2910277737, "0.291027924")
    (True, False)
    """
    exponent = Decimal(printed).as_tuple().exponent
    assert isinstance(exponent, int)        # a printed figure is a finite number
    decimals = -exponent
    return abs(Decimal(repr(float(value))) - Decimal(printed)) <= Decimal(5) / 10 ** (decimals + 1)


# -- tokens: each knows its text, TeX and HTML form -----------------------------------

_GREEK_TEX = {"Σ": r"\sum", "δ": r"\delta", "σ": r"\sigma", "η": r"\eta", "γ": r"\gamma", "ŷ": r"\hat{y}", "𝓛": r"\mathcal{L}",
              "∇": r"\nabla", "α": r"\alpha", "θ": r"\theta"}
_TEXT_ALIAS = {"𝓛": "L"}        # a terminal font may not have the script L


def _sub_text(s: str) -> str:
    return s


class Tok:
    """A piece of an equation."""

    def text(self, ctx: Ctx) -> "Box":
        return Box([self.flat(ctx)])

    def flat(self, ctx: Ctx) -> str:
        raise NotImplementedError

    def tex(self, ctx: Ctx) -> str:
        raise NotImplementedError

    def html(self, ctx: Ctx) -> str:
        raise NotImplementedError


#: What an equation is written with: tokens, and numbers and strings that :func:`_tok` makes tokens of.
TokLike: TypeAlias = "Tok | str | float | np.floating"
#: One side of an equation: a list or tuple of those, or one of them alone.
Side: TypeAlias = "TokLike | Sequence[TokLike]"


class Sym(Tok):
    """A named quantity: ``base`` with a subscript and a superscript (``w^2_11``, ``net_h1``)."""

    def __init__(self, base: str, sub: str = "", sup: str = "", plus: bool = False) -> None:
        self.base, self.sub, self.sup, self.plus = base, str(sub), str(sup), plus

    @property
    def key(self) -> str:
        """The ASCII name the worked example uses for this quantity (``net_h1``, ``w5``, ``E_total``)."""
        base = _TEXT_ALIAS.get(self.base, self.base)
        s = base
        if self.sup:
            s += f"^{self.sup}"
        if self.sub:
            s += self.sub if self._tight(base) else f"_{self.sub}"
        return s + ("+" if self.plus else "")

    def _tight(self, base: str) -> bool:
        """w5, x21, w1b run together as the sources write them; E_total, net_h1, w^2_11 take an underscore."""
        return len(base) == 1 and self.sub[:1].isdigit() and not self.sup

    def flat(self, ctx: Ctx | None) -> str:
        base = _TEXT_ALIAS.get(self.base, self.base)
        s = base
        if self.sup:
            s += f"^{self.sup}" if len(self.sup) == 1 or self.sup.isdigit() or self.sup[0] == "(" else f"^({self.sup})"
        if self.sub:
            s += self.sub if self._tight(base) else f"_{self.sub}"
        return s + ("⁺" if self.plus else "")

    def tex(self, ctx: Ctx | None) -> str:
        base = _GREEK_TEX.get(self.base, self.base)
        s = base if len(self.base) == 1 or self.base in _GREEK_TEX else r"\mathit{" + base + "}"
        sup = self.sup + ("+" if self.plus else "")
        if self.sub:
            s += "_{" + _tex_script(self.sub) + "}"
        if sup:
            s += "^{" + _tex_script(sup) + "}"
        return s

    def html(self, ctx: Ctx | None) -> str:      # (a symbol needs no context: _names passes None)
        s = f"<i>{_html.escape(self.base)}</i>" if len(self.base) == 1 else _html.escape(self.base)
        sup = self.sup + ("+" if self.plus else "")
        if sup:
            s += f"<sup>{_html.escape(sup)}</sup>"
        if self.sub:
            head, _, tail = self.sub.partition("_")     # Mazur's h1_1: neuron 1 of hidden layer 1
            s += f"<sub>{_html.escape(head)}" + (f"<sub>{_html.escape(tail)}</sub>" if tail else "") + "</sub>"
        return s


def _tex_script(s: str) -> str:
    s = s.replace("δ", r"\delta ")
    return s if re.fullmatch(r"[A-Za-z0-9,+()]*|.*\\delta.*", s) else re.sub(r"[^A-Za-z0-9,+()]", "", s)


class Der(Tok):
    """A partial derivative: d num / d den."""

    def __init__(self, num: Sym, den: Sym) -> None:
        self.num, self.den = num, den

    @property
    def key(self) -> str:
        return f"d{self.num.key}/d{self.den.key}"

    def flat(self, ctx: Ctx) -> str:
        return f"∂{self.num.flat(ctx)}/∂{self.den.flat(ctx)}"

    def tex(self, ctx: Ctx) -> str:
        return r"\frac{\partial " + self.num.tex(ctx) + r"}{\partial " + self.den.tex(ctx) + "}"

    def html(self, ctx: Ctx) -> str:
        return f'<span class="frac"><span>∂{self.num.html(ctx)}</span><span>∂{self.den.html(ctx)}</span></span>'


class Num(Tok):
    """A number, printed with the context's precision."""

    def __init__(self, value: float | np.floating) -> None:
        self.value = float(value)

    def flat(self, ctx: Ctx) -> str:
        return fmt(self.value, ctx.precision)

    def tex(self, ctx: Ctx) -> str:
        s = fmt(self.value, ctx.precision)
        if "e" in s:
            mant, exp = s.split("e")
            return mant + r"\times 10^{" + str(int(exp)) + "}"
        return s

    def html(self, ctx: Ctx) -> str:
        return fmt(self.value, ctx.precision).replace("-", "−")


# Operators and words: text form -> (TeX, HTML)
_OPS = {
    "=": ("=", "="), "+": ("+", "+"), "−": ("-", "−"), "×": (r"\times", "×"), "·": (r"\cdot", "·"),
    "⊙": (r"\odot", "⊙"), "(": ("(", "("), ")": (")", ")"), "ᵀ": (r"^{\top}", "<sup>T</sup>"),
    "½": (r"\frac{1}{2}", "½"), "²": ("^{2}", "<sup>2</sup>"), "‖": (r"\Vert", "‖"), "Σ": (r"\sum", "Σ"),
    "log": (r"\log", "log"), "1": ("1", "1"), "/": ("/", "/"), ",": (",", ","), "→": (r"\rightarrow", "→"),
    "≈": (r"\approx", "≈"), "…": (r"\ldots", "…"), "max": (r"\max", "max"), "tanh": (r"\tanh", "tanh"),
    "e": ("e", "<i>e</i>"), ">": (">", "&gt;"), "0": ("0", "0"),
}


class Op(Tok):
    def __init__(self, s: str) -> None:
        if s not in _OPS:
            raise KeyError(s)
        self.s = s

    def flat(self, ctx: Ctx) -> str:
        return self.s

    def tex(self, ctx: Ctx) -> str:
        return _OPS[self.s][0]

    def html(self, ctx: Ctx) -> str:
        return _OPS[self.s][1]


class Word(Tok):
    """Words inside an equation ("after 1 round", "fixed")."""

    def __init__(self, s: str) -> None:
        self.s = s

    def flat(self, ctx: Ctx) -> str:
        return self.s

    def tex(self, ctx: Ctx) -> str:
        return r"\text{ " + _tex_text(self.s) + " }"

    def html(self, ctx: Ctx) -> str:
        return f"<span class=\"word\">{_html.escape(self.s)}</span>"


class Group(Tok):
    """Tokens shown as one (an argument, a numerator, a sum's term)."""

    def __init__(self, toks: Iterable[TokLike], paren: bool = False, norm: bool = False) -> None:
        self.toks = [t if isinstance(t, Tok) else _tok(t) for t in toks]
        self.paren, self.norm = paren or norm, norm
        self.delims = ("‖", "‖") if norm else ("(", ")")

    def text(self, ctx: Ctx) -> "Box":
        box = join_text(self.toks, ctx)
        return hcat([Box([self.delims[0]]), box, Box([self.delims[1]])], sep="") if self.paren else box

    def flat(self, ctx: Ctx) -> str:
        s = join_flat(self.toks, ctx)
        return f"{self.delims[0]}{s}{self.delims[1]}" if self.paren else s

    def tex(self, ctx: Ctx) -> str:
        s = " ".join(t.tex(ctx) for t in self.toks)
        if self.norm:
            return r"\left\Vert " + s + r"\right\Vert"
        return r"\left(" + s + r"\right)" if self.paren else "{" + s + "}"

    def html(self, ctx: Ctx) -> str:
        s = join_html(self.toks, ctx)
        return f"{self.delims[0]}{s}{self.delims[1]}" if self.paren else s


class Call(Tok):
    """f(args): sigma(z), sigma'(z), h(z), log(a)."""

    def __init__(self, name: str, args: Iterable[TokLike], prime: bool = False) -> None:
        self.name, self.args, self.prime = name, Group(args), prime

    def text(self, ctx: Ctx) -> "Box":
        name = _TEXT_ALIAS.get(self.name, self.name) + ("'" if self.prime else "")
        return hcat([Box([name + "("]), self.args.text(ctx), Box([")"])], sep="")

    def flat(self, ctx: Ctx) -> str:
        return f"{_TEXT_ALIAS.get(self.name, self.name)}{chr(39) if self.prime else ''}({self.args.flat(ctx)})"

    def tex(self, ctx: Ctx) -> str:
        name = _GREEK_TEX.get(self.name, r"\mathrm{" + self.name + "}" if len(self.name) > 1 else self.name)
        return name + ("'" if self.prime else "") + r"\left(" + " ".join(t.tex(ctx) for t in self.args.toks) + r"\right)"

    def html(self, ctx: Ctx) -> str:
        name = f"<i>{self.name}</i>" if len(self.name) == 1 else self.name
        return f"{name}{'′' if self.prime else ''}({self.args.html(ctx)})"


class Frac(Tok):
    def __init__(self, num: Iterable[TokLike], den: Iterable[TokLike]) -> None:
        self.num, self.den = Group(num), Group(den)

    def flat(self, ctx: Ctx) -> str:
        return f"{_atom(self.num.flat(ctx))}/{_atom(self.den.flat(ctx))}"

    def tex(self, ctx: Ctx) -> str:
        return r"\frac{" + " ".join(t.tex(ctx) for t in self.num.toks) + "}{" + \
            " ".join(t.tex(ctx) for t in self.den.toks) + "}"

    def html(self, ctx: Ctx) -> str:
        return f'<span class="frac"><span>{self.num.html(ctx)}</span><span>{self.den.html(ctx)}</span></span>'


def _atom(s: str) -> str:
    """``s`` bracketed unless it is one symbol or number, or already one bracketed whole."""
    if re.fullmatch(r"[\w.^⁺'\-]+", s):
        return s
    if s.startswith("(") and s.endswith(")"):
        depth = 0
        for n, ch in enumerate(s):
            depth += (ch == "(") - (ch == ")")
            if depth == 0 and n < len(s) - 1:
                break
        else:
            return s
    return f"({s})"


class Pow(Tok):
    def __init__(self, base: TokLike, exp: Iterable[TokLike]) -> None:
        self.base, self.exp = _tok(base), Group(exp)

    def flat(self, ctx: Ctx) -> str:
        e = self.exp.flat(ctx)
        return f"{self.base.flat(ctx)}^({e})"

    def tex(self, ctx: Ctx) -> str:
        return self.base.tex(ctx) + "^{" + " ".join(t.tex(ctx) for t in self.exp.toks) + "}"

    def html(self, ctx: Ctx) -> str:
        return f"{self.base.html(ctx)}<sup>{self.exp.html(ctx)}</sup>"


class Mat(Tok):
    """A matrix (or column / row vector) of numbers, cut to ``ctx.max_units`` rows and columns."""

    def __init__(self, array: Any) -> None:
        a = np.asarray(array, dtype=float)
        self.a = a.reshape(-1, 1) if a.ndim == 1 else a

    def _cells(self, ctx: Ctx, fmt_one: Callable[[float], str]) -> list[list[Any]]:
        """Rows of formatted cells ("…" where columns are cut); a cut row is all None."""
        rows, cols = self.a.shape
        ri = _kept(rows, ctx.max_units)
        ci = _kept(cols, ctx.max_units)
        out: list[list[Any]] = []
        for i in ri:
            if i is None:
                out.append([None] * len(ci))
                continue
            out.append([("…" if j is None else fmt_one(self.a[i, j])) for j in ci])
        return out

    def text(self, ctx: Ctx) -> "Box":
        cells = self._cells(ctx, lambda v: fmt(v, ctx.precision))
        ncol = len(cells[0])
        widths = [max(len(r[j]) if r[j] is not None else 1 for r in cells) for j in range(ncol)]
        lines = []
        for r in cells:
            if r[0] is None:
                lines.append(" ".join("⋮".center(w) for w in widths))
            else:
                lines.append(" ".join(c.rjust(w) for c, w in zip(r, widths)))
        if len(lines) == 1:
            return Box(["[" + lines[0] + "]"])
        out = []
        for i, line in enumerate(lines):
            left, right = ("⎡", "⎤") if i == 0 else ("⎣", "⎦") if i == len(lines) - 1 else ("⎢", "⎥")
            out.append(f"{left}{line}{right}")
        return Box(out)

    def flat(self, ctx: Ctx) -> str:
        cells = self._cells(ctx, lambda v: fmt(v, ctx.precision))
        return "[" + "; ".join("⋮" if r[0] is None else " ".join(r) for r in cells) + "]"

    def tex(self, ctx: Ctx) -> str:
        cells = self._cells(ctx, lambda v: Num(v).tex(ctx))
        rows = []
        for r in cells:
            if r[0] is None:
                rows.append(" & ".join(r"\vdots" for _ in r))
            else:
                rows.append(" & ".join(r"\cdots" if c == "…" else c for c in r))
        return r"\begin{pmatrix} " + r" \\ ".join(rows) + r" \end{pmatrix}"

    def html(self, ctx: Ctx) -> str:
        cells = self._cells(ctx, lambda v: fmt(v, ctx.precision).replace("-", "−"))
        body = "".join("<tr>" + "".join(f"<td>{'⋮' if c is None else c}</td>" for c in r) + "</tr>" for r in cells)
        # the span draws the brackets (its ::before and ::after, as tall as the table): see _CSS
        return f'<span class="mat"><table><tbody>{body}</tbody></table></span>'


def _kept(n: int, limit: int) -> list[int | None]:
    """Indices shown of n (None marks the cut): the first limit - 1 and the last."""
    if n <= limit:
        return list(range(n))
    return list(range(limit - 1)) + [None, n - 1]


def _tok(t: TokLike) -> Tok:
    if isinstance(t, Tok):
        return t
    if isinstance(t, (int, float, np.floating)):
        return Num(t)
    if isinstance(t, str):
        return Op(t) if t in _OPS else Word(t)
    raise TypeError(t)


# -- a small 2-D layout for the terminal ----------------------------------------------

class Box:
    """Lines of text with a middle line, so matrices and scalars line up side by side."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = list(lines)
        self.width = max((len(s) for s in self.lines), default=0)
        self.mid = (len(self.lines) - 1) // 2


def hcat(boxes: Sequence[Box], sep: str | Sequence[str] = " ") -> Box:
    """Boxes side by side, middle lines level; ``sep`` is one string or one per gap."""
    if not boxes:
        return Box([""])
    seps = [sep] * (len(boxes) - 1) if isinstance(sep, str) else list(sep)
    up = max(b.mid for b in boxes)
    down = max(len(b.lines) - 1 - b.mid for b in boxes)
    rows = []
    for r in range(-up, down + 1):
        line = ""
        for n, b in enumerate(boxes):
            i = b.mid + r
            line += (seps[n - 1] if n else "") + (b.lines[i] if 0 <= i < len(b.lines) else "").ljust(b.width)
        rows.append(line.rstrip())
    return Box(rows)


_TIGHT_BEFORE = {")", "²", "ᵀ", ","}
_TIGHT_AFTER = {"(", "½"}


def _gaps(toks: Sequence[Tok]) -> list[str]:
    """The space between neighbours: none around brackets, after ½ or a leading minus, before ² and ᵀ,
    and between a symbol and the bracket it multiplies (out(1 - out))."""
    gaps = []
    for n in range(1, len(toks)):
        prev, tok = toks[n - 1], toks[n]
        tight = (isinstance(tok, Op) and tok.s in _TIGHT_BEFORE) or \
            (isinstance(prev, Op) and (prev.s in _TIGHT_AFTER or (prev.s == "−" and n == 1))) or \
            (isinstance(prev, Sym) and isinstance(tok, Group) and tok.paren)
        gaps.append("" if tight else " ")
    return gaps


def join_text(toks: Sequence[Tok], ctx: Ctx) -> Box:
    return hcat([t.text(ctx) for t in toks], sep=_gaps(toks)) if toks else Box([""])


def join_flat(toks: Sequence[Tok], ctx: Ctx) -> str:
    gaps = _gaps(toks)
    return "".join((gaps[n - 1] if n else "") + t.flat(ctx) for n, t in enumerate(toks))


def join_html(toks: Sequence[Tok], ctx: Ctx) -> str:
    """As join_flat: the text's spacing, so that HTML reads (y − a)², not ( y − a ) ²."""
    gaps = _gaps(toks)
    return "".join((gaps[n - 1] if n else "") + t.html(ctx) for n, t in enumerate(toks))


# -- the document ---------------------------------------------------------------------

class Eq:
    """lhs = side = side ...; ``key`` names the result (for the source's figures), ``note`` is shown after."""

    def __init__(self, *sides: Side, key: str | None = None, value: float | None = None,
                 note: str | None = None) -> None:
        self.sides = [[_tok(t) for t in (side if isinstance(side, (list, tuple)) else [cast(TokLike, side)])]
                      for side in sides]      # (cast: anything but a list or a tuple is one token, a str too)
        self.key, self.value, self.note = key, value, note


class Title:
    def __init__(self, text: str) -> None:
        self.text = text


class Section:
    def __init__(self, text: str, level: int = 2) -> None:
        self.text, self.level = text, level


class Para:
    """Text with symbols in it: a list of str and tokens."""

    def __init__(self, *parts: str | Tok, kind: str = "") -> None:
        self.parts = list(parts)
        self.kind = kind      # "note" for what was left out or what the source gets wrong


class Table:
    def __init__(self, header: list[str], rows: list[list[str | Tok]]) -> None:
        self.header, self.rows = header, rows


class Drawing:
    """The network before and after the update (HTML only)."""

    def __init__(self, step: StepRecord) -> None:
        self.step = step


class Ctx:
    def __init__(self, precision: int, max_units: int) -> None:
        self.precision, self.max_units = precision, max_units


#: The blocks of a document, as _Builder makes them and the formats write them.
Block: TypeAlias = "Title | Section | Para | Eq | Table | Drawing"


# -- notations ----------------------------------------------------------------------------

#: The notation each worked example's source writes in.
SOURCE_NOTATION = {"002_56bd98b6111f8107.txt": "mazur", "001_7fed4c401f961d13.txt": "kaist"}


class Notation:
    """The symbols of one note. Layers are Dense indices 0..L-1; -1 is the input."""

    name = ""
    lr = "η"
    act = "σ"
    cost_base = ("C", "")

    def __init__(self, trace: TraceRecord) -> None:
        self.trace = trace
        self.L = len(trace.sizes) - 1
        # A worked example's names (w5, w1b) are its own notation's; names a user gave apply in every one.
        own = SOURCE_NOTATION.get(trace.source, self.name)
        names = trace.names if own == self.name else {}
        self.source_names = {(layer, kind, tuple(index)): name for name, (layer, kind, index) in names.items()}

    @property
    def cost(self) -> Sym:
        return Sym(*self.cost_base)

    def cost_term(self, j: int) -> Sym | None:
        return None

    def y(self, j: int | None = None) -> Sym:
        return Sym("y", "" if j is None else _idx(j + 1))

    def named(self, layer: int, kind: str, index: tuple[int, ...], fallback: Sym) -> Sym:
        name = self.source_names.get((layer, kind, tuple(index)))
        if name is None:
            return fallback
        m = re.fullmatch(r"([A-Za-z]+?)(\d\w*|)", name)
        return Sym(m.group(1), m.group(2)) if m else Sym(name)

    def delta(self, i: int, j: int | None = None) -> Tok:
        return Der(self.cost, self.z(i, j))

    def grad_quadratic(self, a: Tok, y: Tok) -> list[TokLike]:
        return [a, "−", y]

    # The symbols, each notation's own: a^l, z^l, W^l, w^l_jk, b^l, b^l_j (of Dense layer i,
    # unit j, input k; i = -1 is the input) and grad_a C.
    def a(self, i: int, j: int | None = None) -> Sym:
        raise NotImplementedError

    def z(self, i: int, j: int | None = None) -> Sym:
        raise NotImplementedError

    def W(self, i: int, plus: bool = False) -> Sym:
        raise NotImplementedError

    def w(self, i: int, j: int, k: int, plus: bool = False) -> Sym:
        raise NotImplementedError

    def B(self, i: int, plus: bool = False) -> Sym:
        raise NotImplementedError

    def bias(self, i: int, j: int, plus: bool = False) -> Sym:
        raise NotImplementedError

    def grad_a(self) -> Tok:
        raise NotImplementedError

    def layer_title(self, i: int) -> str:
        n = self.trace.sizes[i + 1]
        kind = "output" if i == self.L - 1 else "hidden"
        return f"{kind} layer {self.layer_number(i)}: {n} {self.trace.steps[0].layers[i].activation} neuron{'s' * (n != 1)}"

    def layer_number(self, i: int) -> str:
        return str(i + 1)


def _idx(*ns: int) -> str:
    """Subscripts 1 and 2 as "12", but 1 and 12 as "1,12" (unambiguous)."""
    return ("," if any(n > 9 for n in ns) else "").join(str(n) for n in ns)


class Nielsen(Notation):
    """Seed 000: the input is layer 1, so Dense layer i holds w^{i+2}; w^l_jk from k in l-1 to j in l."""

    name = "nielsen"

    def l(self, i: int) -> str:  # noqa: E743
        return str(i + 2)

    def a(self, i: int, j: int | None = None) -> Sym:
        return Sym("a", "" if j is None else _idx(j + 1), self.l(i))

    def z(self, i: int, j: int | None = None) -> Sym:
        return Sym("z", "" if j is None else _idx(j + 1), self.l(i))

    def W(self, i: int, plus: bool = False) -> Sym:
        return Sym("w", "", self.l(i), plus=plus)

    def w(self, i: int, j: int, k: int, plus: bool = False) -> Sym:
        s = self.named(i, "W", (j, k), Sym("w", _idx(j + 1, k + 1), self.l(i)))
        s.plus = plus
        return s

    def B(self, i: int, plus: bool = False) -> Sym:
        return Sym("b", "", self.l(i), plus=plus)

    def bias(self, i: int, j: int, plus: bool = False) -> Sym:
        s = self.named(i, "b", (j,), Sym("b", _idx(j + 1), self.l(i)))
        s.plus = plus
        return s

    def delta(self, i: int, j: int | None = None) -> Tok:
        return Sym("δ", "" if j is None else _idx(j + 1), self.l(i))

    def grad_a(self) -> Tok:
        return Group([Sym("∇", "a"), self.cost])

    def layer_number(self, i: int) -> str:
        return f"l = {self.l(i)}"


class Kaist(Notation):
    """Seed 001: x_mk is the input from neuron k of layer m (x_1k the inputs), W_m and B_m
    take layer m to m+1, z_mn is the summed input of neuron n of layer m+1, y_mn = x_{m+1,n}
    its output; the single output is y-hat; the loss is 𝓛; the learning rate gamma."""

    name = "kaist"
    lr = "γ"
    act = "h"
    cost_base = ("𝓛", "")

    def m(self, i: int) -> int:
        return i + 1

    def a(self, i: int, j: int | None = None) -> Sym:
        if i == self.L - 1 and self.trace.sizes[-1] == 1:
            return Sym("ŷ")
        if i == self.L - 1:
            return Sym("ŷ", "" if j is None else _idx(j + 1))
        return Sym("x", str(i + 2) if j is None else _idx(i + 2, j + 1))

    def z(self, i: int, j: int | None = None) -> Sym:
        return Sym("z", str(self.m(i)) if j is None else _idx(self.m(i), j + 1))

    def W(self, i: int, plus: bool = False) -> Sym:
        return Sym("W", str(self.m(i)), plus=plus)

    def w(self, i: int, j: int, k: int, plus: bool = False) -> Sym:
        s = self.named(i, "W", (j, k), Sym("w", _idx(j + 1, k + 1), f"({self.m(i)})"))
        s.plus = plus
        return s

    def B(self, i: int, plus: bool = False) -> Sym:
        return Sym("B", str(self.m(i)), plus=plus)

    def bias(self, i: int, j: int, plus: bool = False) -> Sym:
        s = self.named(i, "b", (j,), Sym("w", f"{j + 1}b", f"({self.m(i)})"))
        s.plus = plus
        return s

    def grad_a(self) -> Tok:
        return Der(self.cost, self.a(self.L - 1))

    def layer_number(self, i: int) -> str:
        return f"m = {self.m(i)} (W_{self.m(i)}: layer {self.m(i)} to {self.m(i) + 1})"

    def input_sym(self, k: int | None = None) -> Sym:
        return Sym("x", "1" if k is None else _idx(1, k + 1))

    def y(self, j: int | None = None) -> Sym:
        return Sym("y", "" if j is None or self.trace.sizes[-1] == 1 else _idx(j + 1))


class Mazur(Notation):
    """Seed 002: inputs i1, i2; hidden neurons h1, h2; outputs o1, o2; net and out; the
    weights numbered w1, w2, ... across the layers in W's row order; E_total."""

    name = "mazur"
    cost_base = ("E", "total")

    def letter(self, i: int) -> str:
        if i == -1:
            return "i"
        if i == self.L - 1:
            return "o"
        return "h" if self.L == 2 else f"h{i + 1}_"

    def unit(self, i: int, j: int) -> str:
        return f"{self.letter(i)}{j + 1}"

    def a(self, i: int, j: int | None = None) -> Sym:
        if i == -1:
            return Sym("i", "" if j is None else str(j + 1))
        return Sym("out", self.letter(i).rstrip("_") if j is None else self.unit(i, j))

    def z(self, i: int, j: int | None = None) -> Sym:
        return Sym("net", self.letter(i).rstrip("_") if j is None else self.unit(i, j))

    def y(self, j: int | None = None) -> Sym:
        return Sym("target", "o" if j is None else self.unit(self.L - 1, j))

    def cost_term(self, j: int) -> Sym:
        return Sym("E", self.unit(self.L - 1, j))

    def W(self, i: int, plus: bool = False) -> Sym:
        return Sym("W", self.letter(i).rstrip("_"), plus=plus)

    def w(self, i: int, j: int, k: int, plus: bool = False) -> Sym:
        offset = sum(self.trace.sizes[n] * self.trace.sizes[n + 1] for n in range(i))
        s = self.named(i, "W", (j, k), Sym("w", str(offset + j * self.trace.sizes[i] + k + 1)))
        s.plus = plus
        return s

    def B(self, i: int, plus: bool = False) -> Sym:
        return Sym("b", self.letter(i).rstrip("_"), plus=plus)

    def shared_bias(self, i: int) -> bool:
        """The source's one bias per layer: fixed, and the same for every neuron."""
        layer = self.trace.steps[0].layers[i]
        return layer.fixed_bias and bool(np.all(layer.b == layer.b[0]))

    def bias(self, i: int, j: int, plus: bool = False) -> Sym:
        if self.shared_bias(i):
            s = self.named(i, "b", (0,), Sym("b", str(i + 1)))
        else:
            s = self.named(i, "b", (j,), Sym("b", self.unit(i, j)))
        s.plus = plus
        return s

    def delta(self, i: int, j: int | None = None) -> Tok:
        return Sym("δ", self.letter(i).rstrip("_") if j is None else self.unit(i, j))

    def grad_a(self) -> Tok:
        return Der(self.cost, self.a(self.L - 1))

    def grad_quadratic(self, a: Tok, y: Tok) -> list[TokLike]:
        return ["−", Group([y, "−", a], paren=True)]

    def layer_number(self, i: int) -> str:
        return self.letter(i).rstrip("_")

    def layer_title(self, i: int) -> str:
        n = self.trace.sizes[i + 1]
        kind = "output layer" if i == self.L - 1 else "hidden layer"
        names = ", ".join(self.unit(i, j) for j in range(min(n, 3))) + (", ..." if n > 3 else "")
        return f"{kind} ({names}): {n} {self.trace.steps[0].layers[i].activation} neuron{'s' * (n != 1)}"


_NOTATION: dict[str, type[Notation]] = {"nielsen": Nielsen, "kaist": Kaist, "mazur": Mazur}


def input_sym(nota: Notation, k: int | None = None) -> Sym:
    if isinstance(nota, Kaist):
        return nota.input_sym(k)
    if isinstance(nota, Nielsen):
        return Sym("a", "" if k is None else _idx(k + 1), "1")
    return nota.a(-1, k)


def A_sym(nota: Notation, i: int, j: int | None = None) -> Sym:
    """Activations of layer i; i = -1 is the input."""
    return input_sym(nota, j) if i == -1 else nota.a(i, j)


# -- activation and loss formulas, for display ----------------------------------------

def act_formula(name: str, z: Tok, zval: float | None) -> tuple[Tok | None, Tok | None]:
    """a = sigma(z) written out: symbolic, then with the number (None if not written out)."""
    if name == "sigmoid":
        sym = Frac(["1"], ["1", "+", Pow("e", ["−", z])])
        return sym, (None if zval is None else Frac(["1"], ["1", "+", Pow("e", [Num(-zval)])]))
    if name == "tanh":
        return Call("tanh", [z]), (None if zval is None else Call("tanh", [Num(zval)]))
    if name == "relu":
        return Call("max", [z, ",", "0"]), (None if zval is None else Call("max", [Num(zval), ",", "0"]))
    if name == "identity":
        return z, None
    return None, None


def prime_formula(name: str, a: Tok, aval: float | None) -> tuple[Tok | None, Tok | None]:
    """sigma'(z) written out in terms of a (as the seeds do: out(1 - out))."""
    if name in ("sigmoid", "softmax"):
        return Group([a, Group(["1", "−", a], paren=True)]), \
            (None if aval is None else Group([Num(aval), "×", Group(["1", "−", Num(aval)], paren=True)]))
    if name == "tanh":
        base = Group([a], paren=True) if isinstance(a, Sym) and a.sup else a   # (a^2_1)^2, not a^2_1^2
        return Group(["1", "−", base, "²"]), (None if aval is None else Group(["1", "−", Num(aval), "²"]))
    if name == "identity":
        return Group(["1"]), None
    return None, None


def loss_term(loss: str, y: Tok, a: Tok) -> Tok | None:
    """One output's share of the cost, written out; None for a loss without a formula here."""
    if loss == "quadratic":
        return Group(["½", Group([y, "−", a], paren=True), "²"])
    if loss == "binary_cross_entropy":
        return Group(["−", Group([y, Call("log", [a]), "+", Group(["1", "−", y], paren=True),
                                  Call("log", [Group(["1", "−", a])])], paren=True)])
    if loss == "cross_entropy":
        return Group(["−", y, Call("log", [a])])
    return None


PRIME_WORDS = {"relu": "1 for positive z, else 0", "leaky_relu": "1 for positive z, else alpha",
               "softmax": "the diagonal a(1 - a) of softmax's Jacobian"}


# -- building the document ------------------------------------------------------------

class _Builder:
    """Turns a trace into blocks, in one notation, at one level."""

    def __init__(self, trace: TraceRecord, nota: Notation, level: str, ctx: Ctx) -> None:
        self.tr, self.nota, self.level, self.ctx = trace, nota, level, ctx
        self.doc: list[Block] = []
        self.L = nota.L

    # helpers
    def eq(self, *sides: Side, key: str | None = None, note: str | None = None) -> None:
        last = sides[-1]
        value = last.value if isinstance(last, Num) else (
            last[0].value if isinstance(last, (list, tuple)) and len(last) == 1 and isinstance(last[0], Num) else None)
        if key is not None and value is not None and key in self.tr.printed:
            printed = self.tr.printed[key]
            if not agrees(value, printed):
                reason = self.tr.errata.get(key)
                extra = f"source prints {printed}" + (f" ({reason})" if reason else "") + f"; see {ERRATA_PAGE}"
                note = extra if note is None else f"{note}; {extra}"
        self.doc.append(Eq(*sides, key=key, value=value, note=note))

    def shown(self, n: int) -> list[int | None]:
        return _kept(n, self.ctx.max_units)

    def lr(self) -> Sym:
        return Sym(self.nota.lr)

    def cost_after_key(self, n: int) -> str:
        return f"{self.nota.cost.key}_after_{n}"

    # the whole document
    def build(self) -> list[Block]:
        tr, nota = self.tr, self.nota
        st = tr.steps[0]
        how = "one step" if len(tr.steps) == 1 else f"{len(tr.steps)} steps"
        self.doc.append(Title(f"deltaprop explain: {how} of backpropagation on a {'-'.join(map(str, tr.sizes))} network"))
        acts = ", ".join(f"{layer.activation}" for layer in st.layers)
        examples = "one example" if tr.m == 1 else f"a batch of {tr.m} examples"
        update = (f"gradient descent with {nota.lr} = {fmt(tr.optimizer['lr'], self.ctx.precision)}"
                  if tr.plain_sgd else tr.optimizer.get("repr"))
        self.doc.append(Para(f"Activations by layer: {acts}. Cost: {tr.loss}. Update: {update}. "
                             f"{tr.n_params} parameters, {tr.dtype}, {examples}. Notation: {nota.name}; "
                             f"level: {self.level}."))
        if tr.source and tr.printed and isinstance(nota, Mazur):
            self.doc.append(Para(f"The worked example of {_title(tr.source)}. Every figure the source prints is one of the "
                                 f"numbers below; where the source is wrong, the correct figure is shown, with the "
                                 f"source's beside it and a pointer to {ERRATA_PAGE}."))
        elif tr.source and tr.printed:
            self.doc.append(Para(f"The worked example of {_title(tr.source)}; in its own notation (notation='mazur') each "
                                 "figure the source prints is checked."))
        elif tr.source:
            self.doc.append(Para(f"The network of {_title(tr.source)}, which derives each term symbolically and prints "
                                 "no numbers: the weights are deltaprop's own choice."))
        for note in tr.notes:
            self.doc.append(Para(note, kind="note"))
        for note in self.left_out():
            self.doc.append(Para(note, kind="note"))
        if not tr.plain_sgd:
            self.doc.append(Para(f"The update is {tr.optimizer.get('repr')}'s step, not plain w - eta dC/dw: "
                                 "the parameters before and after it are shown.", kind="note"))
        self.doc.append(Drawing(st))
        if self.level == "matrix":
            self.matrix_step(st)
        else:
            self.neuron_step(st)
        self.later()
        return self.doc

    def left_out(self) -> list[str]:
        tr, mu = self.tr, self.ctx.max_units
        notes = []
        layers = tr.steps[0].layers
        if self.level == "matrix":
            for i, layer in enumerate(layers):
                r, c = layer.W.shape
                if r > mu or c > mu:
                    kept = min(r, mu) * min(c, mu)
                    notes.append(f"Summarised: {self.nota.W(i).flat(self.ctx)} is {r} x {c}; its matrices show "
                                 f"{min(r, mu)} rows and {min(c, mu)} columns (the first {mu - 1} and the last "
                                 f"where cut), {kept} of {r * c} entries; the rest are left out.")
            if tr.m > mu:
                notes.append(f"Summarised: the batch has {tr.m} examples; matrices show {mu} of their columns.")
        else:
            for i, layer in enumerate(layers):
                r, c = layer.W.shape
                if r > mu or c > mu:
                    notes.append(f"Summarised: {self.nota.layer_title(i)} - shown are {min(r, mu)} of its {r} "
                                 f"neurons, each with {min(c, mu)} of its {c} weights (the first {mu - 1} and the "
                                 f"last where cut): {min(r, mu) * min(c, mu)} of {r * c} weight derivatives; "
                                 "the rest are left out.")
        if notes:
            notes.append("Every number of the pass is in the JSON trace (--format json, Trace.to_json()).")
        return notes

    # -- matrices: BP1-BP4 per layer ---------------------------------------------------
    def matrix_step(self, st: StepRecord) -> None:
        tr, nota, L = self.tr, self.nota, self.L
        m = tr.m
        C = nota.cost
        self.doc.append(Section("Forward pass"))
        for i, ly in enumerate(st.layers):
            self.doc.append(Section(nota.layer_title(i), 3))
            a_prev = A_sym(nota, i - 1)
            if i == 0:
                self.eq([a_prev], [Mat(ly.A_prev)])
            self.eq([nota.z(i)], [nota.W(i), a_prev, "+", nota.B(i)], [Mat(ly.W), Mat(ly.A_prev), "+", Mat(ly.b)],
                    [Mat(ly.Z)])
            self.eq([nota.a(i)], [Call(nota.act, [nota.z(i)])], [Mat(ly.A)])
        self.doc.append(Section("Cost"))
        aL, y = nota.a(L - 1), nota.y()
        self.eq([y], [Mat(tr.Y.T)])
        # vector forms: log and the products act entry by entry, the sum runs over the outputs
        formulas: dict[str, list[TokLike]] = {
            "quadratic": ["½", Group([y, "−", aL], norm=True), "²"],
            "binary_cross_entropy": ["−", Sym("Σ", "j"), Group([y, Call("log", [aL]), "+",
                                                                 Group(["1", "−", y], paren=True),
                                                                 Call("log", [Group(["1", "−", aL])])],
                                                                paren=True)],
            "cross_entropy": ["−", Sym("Σ", "j"), y, Call("log", [aL])]}
        formula = formulas.get(tr.loss)
        if formula is not None and m > 1:
            formula = [Frac(["1"], [Sym("m")]), Sym("Σ", "x")] + formula
        sides: list[Sequence[TokLike]] = [[C]]
        sides += ([formula] if formula else []) + [[Num(st.cost)]]
        self.eq(*sides, key=C.key)
        self.doc.append(Section("Backward pass"))
        if m > 1:
            self.doc.append(Para(f"With a batch, column x of every delta is that example's error divided by m = {m}: "
                                 f"the 1/m of C = (1/m) sum_x C_x, which the loss's gradient carries.", kind="note"))
        for i in reversed(range(L)):
            ly = st.layers[i]
            self.doc.append(Section(nota.layer_title(i), 3))
            d, sp = nota.delta(i), Call(nota.act, [nota.z(i)], prime=True)
            elementwise = ly.activation != "softmax"
            if i == L - 1:
                Yc = tr.Y.T
                if tr.fused:
                    over: list[TokLike] = \
                        [Frac([Group([aL, "−", y], paren=True)], [Sym("m")])] if m > 1 else [aL, "−", y]
                    difference: list[TokLike] = [Mat(ly.A), "−", Mat(Yc)]
                    self.eq([d], over, difference + ([Word(f"divided by {m}")] if m > 1 else []),
                            [Mat(ly.D)], key=d.key if isinstance(d, Sym) else None)
                    self.doc.append(Para(f"BP1 with a {ly.activation} output and the {tr.loss} cost: sigma'(z) cancels "
                                         "against grad_a C exactly, so deltaprop forms delta = (a - y)/m directly "
                                         "(fused) instead of the product.", kind="note"))
                else:
                    grad: list[TokLike] | None = \
                        ([Frac([Group([aL, "−", y], paren=True)], [Sym("m")])] if m > 1 else [aL, "−", y]) \
                        if tr.loss == "quadratic" else None
                    grad_sides: list[Sequence[TokLike]] = [[nota.grad_a()]]
                    self.eq(*(grad_sides + ([grad] if grad else []) + [[Mat(ly.dA)]]))
                    if elementwise:
                        self.eq([sp], [Mat(ly.prime)])
                        self.eq([d], [nota.grad_a(), "⊙", sp], [Mat(ly.dA), "⊙", Mat(ly.prime)], [Mat(ly.D)])
                    else:
                        g = nota.grad_a()
                        self.eq([d], [aL, "⊙", Group([g, "−", Group([aL, "·", g], paren=True)], paren=True)],
                                [Mat(ly.D)])
                        self.doc.append(Para("Softmax's Jacobian is not diagonal, so BP1 is J^T grad_a C = "
                                             "a (.) (grad_a C - a . grad_a C), column by column, not a Hadamard "
                                             "product with sigma'(z).", kind="note"))
            else:
                above = st.layers[i + 1]
                back = Group([Group([nota.W(i + 1)], paren=True), "ᵀ", nota.delta(i + 1)], paren=True)
                if elementwise:
                    self.eq([d], [back, "⊙", sp],
                            [Group([Mat(above.W), "ᵀ", Mat(above.D)], paren=True), "⊙", Mat(ly.prime)],
                            [Mat(ly.dA), "⊙", Mat(ly.prime)], [Mat(ly.D)])
                else:
                    self.eq([d], [Word("softmax Jacobian product with"), back], [Mat(ly.D)])
            bsum = [Sym("Σ", "x"), d] if m > 1 else [d]
            self.eq([Der(C, nota.B(i))], bsum, [Mat(ly.db)])
            self.eq([Der(C, nota.W(i))], [d, Group([A_sym(nota, i - 1)], paren=True), "ᵀ"],
                    [Mat(ly.D), Mat(ly.A_prev), "ᵀ"], [Mat(ly.dW)])
        self.doc.append(Section("Update"))
        if tr.plain_sgd:
            self.doc.append(Para("Every derivative above was taken at the weights before this update; "
                                 "all layers then change at once."))
        lr = tr.optimizer.get("lr")
        for i, ly in enumerate(st.layers):
            self.doc.append(Section(nota.layer_title(i), 3))
            for P, Pn, G, sym, fixed in ((ly.W, ly.W_new, ly.dW, nota.W, False),
                                         (ly.b, ly.b_new, ly.db, nota.B, ly.fixed_bias)):
                if fixed:
                    self.eq([sym(i, plus=True)], [sym(i)], [Mat(P)], note="held fixed: not updated")
                elif tr.plain_sgd:
                    assert lr is not None            # plain SGD's config has its lr
                    self.eq([sym(i, plus=True)], [sym(i), "−", self.lr(), Der(C, sym(i))],
                            [Mat(P), "−", Num(lr), Mat(G)], [Mat(Pn)])
                else:
                    self.eq([sym(i, plus=True)], [Word(f"{tr.optimizer.get('name')} step from"), Mat(P)], [Mat(Pn)])
        self.doc.append(Section("After the update"))
        self.eq([C, Word(f"after round {st.round}")], [Num(st.cost_after)], key=self.cost_after_key(st.round))

    # -- neurons: each scalar of the chain rule (one example) -------------------------
    def neuron_step(self, st: StepRecord) -> None:
        tr, nota, L = self.tr, self.nota, self.L
        C = nota.cost
        mazur = isinstance(nota, Mazur)
        self.doc.append(Section("Forward pass"))
        for i, ly in enumerate(st.layers):
            self.doc.append(Section(nota.layer_title(i), 3))
            for j in self.shown(ly.n_out):
                if j is None:
                    self.doc.append(Para("…"))
                    continue
                sym: list[TokLike] = []
                num: list[TokLike] = []
                for k in self.shown(ly.n_in):
                    if k is None:
                        sym += ["…", "+"]
                        num += ["…", "+"]
                        continue
                    sym += [nota.w(i, j, k), "·", A_sym(nota, i - 1, k), "+"]
                    num += [Num(ly.W[j, k]), "×", Num(ly.A_prev[k, 0]), "+"]
                sym += [nota.bias(i, j), "·", "1"]
                num += [Num(ly.b[j]), "×", "1"]
                z = nota.z(i, j)
                self.eq([z], sym, num, [Num(ly.Z[j, 0])], key=z.key)
                a = nota.a(i, j)
                f_sym, f_num = act_formula(ly.activation, z, ly.Z[j, 0])
                sides: list[Sequence[TokLike]] = [[a]]
                sides += [] if mazur and f_sym is not None else [[Call(nota.act, [z])]]
                sides += [[f] for f in (f_sym, f_num) if f is not None] + [[Num(ly.A[j, 0])]]
                self.eq(*sides, key=a.key)
        self.doc.append(Section("Cost"))
        out = st.layers[-1]
        terms = st.cost_terms
        shown_out = self.shown(out.n_out)
        lterm = [(j, loss_term(tr.loss, nota.y(j), nota.a(L - 1, j)),
                  loss_term(tr.loss, Num(tr.Y[0, j]), Num(out.A[j, 0]))) for j in shown_out if j is not None]
        if mazur and terms is not None and all(t is not None for _, t, _ in lterm):
            assert isinstance(nota, Mazur)
            for j, t_sym, t_num in lterm:
                assert t_sym is not None and t_num is not None    # (one loss: both written out, or neither)
                e = nota.cost_term(j)
                self.eq([e], [t_sym], [t_num], [Num(terms[j])], key=e.key)
            self.eq([C], _joined([nota.cost_term(j) if j is not None else Op("…") for j in shown_out], "+"),
                    _joined([Num(terms[j]) if j is not None else Op("…") for j in shown_out], "+"),
                    [Num(st.cost)], key=C.key)
        elif all(t is not None for _, t, _ in lterm):
            cut = None in shown_out
            self.eq([C], _joined([t for _, t, _ in lterm if t is not None] + (["…"] if cut else []), "+"),
                    _joined([t for _, _, t in lterm if t is not None] + (["…"] if cut else []), "+"),
                    [Num(st.cost)], key=C.key)
        else:
            self.eq([C], [Num(st.cost)], key=C.key)
        self.doc.append(Section("Backward pass"))
        for i in reversed(range(L)):
            self.neuron_backward(st, i)
        self.doc.append(Section("Update"))
        if tr.plain_sgd:
            self.doc.append(Para("Every derivative above was taken at the weights before this update; "
                                 "all weights then change at once."))
        lr = tr.optimizer.get("lr")
        for i, ly in enumerate(st.layers):
            self.doc.append(Section(nota.layer_title(i), 3))
            for j in self.shown(ly.n_out):
                if j is None:
                    self.doc.append(Para("…"))
                    continue
                for k in self.shown(ly.n_in):
                    if k is None:
                        continue
                    w, wp = nota.w(i, j, k), nota.w(i, j, k, plus=True)
                    self.update_eq(wp, w, ly.W[j, k], ly.dW[j, k], ly.W_new[j, k], lr)
                if not ly.fixed_bias:
                    self.update_eq(nota.bias(i, j, plus=True), nota.bias(i, j), ly.b[j], ly.db[j], ly.b_new[j], lr)
            if ly.fixed_bias:
                self.fixed_bias_note(i, ly, "it stays")
        self.doc.append(Section("After the update"))
        self.eq([C, Word(f"after round {st.round}")], [Num(st.cost_after)], key=self.cost_after_key(st.round))

    def fixed_bias_note(self, i: int, ly: LayerRecord, what: str) -> None:
        nota = self.nota
        if isinstance(nota, Mazur) and nota.shared_bias(i):
            names = [nota.bias(i, 0)]
        else:
            names = [nota.bias(i, j) for j in self.shown(ly.n_out) if j is not None]
        values = [ly.b[0]] if len(names) == 1 and ly.n_out > 1 else [ly.b[j] for j in range(len(names))]
        self.doc.append(Para(", ".join(n.flat(self.ctx) for n in names) + f" {'is' if len(names) == 1 else 'are'} "
                             f"held fixed (fixed_bias): {what} " +
                             ", ".join(fmt(v, self.ctx.precision) for v in values) + "."))

    def update_eq(self, plus: Sym, sym: Sym, before: float, grad: float, after: float, lr: float | None) -> None:
        C = self.nota.cost
        if self.tr.plain_sgd:
            assert lr is not None                    # plain SGD's config has its lr
            self.eq([plus], [sym, "−", self.lr(), Der(C, sym)], [Num(before), "−", Num(lr), "×", Num(grad)],
                    [Num(after)], key=plus.key)
        else:
            self.eq([plus], [Word(f"{self.tr.optimizer.get('name')} step from"), Num(before)], [Num(after)],
                    key=plus.key)

    def neuron_backward(self, st: StepRecord, i: int) -> None:
        tr, nota, L = self.tr, self.nota, self.L
        C = nota.cost
        ly = st.layers[i]
        self.doc.append(Section(nota.layer_title(i), 3))
        elementwise = ly.activation != "softmax"
        for j in self.shown(ly.n_out):
            if j is None:
                self.doc.append(Para("…"))
                continue
            a, z = nota.a(i, j), nota.z(i, j)
            d = nota.delta(i, j)
            lhs: list[TokLike] = [d] if not isinstance(d, Sym) else [d, "=", Der(C, z)]
            dCda, dadz = Der(C, a), Der(a, z)
            s = ly.prime[j, 0]
            three = False
            if i == L - 1 and tr.fused:
                assert st.loss_grad is not None      # recorded for a fused output
                g = st.loss_grad[j, 0]
                if elementwise:
                    self.scalar_grad(dCda, g, a, j, out=True)
                    self.prime_eq(dadz, ly.activation, a, ly.A[j, 0], s)
                    self.eq(lhs, [dCda, "·", dadz], [Num(g), "×", Num(s)], [a, "−", nota.y(j)],
                            [Num(ly.A[j, 0]), "−", Num(tr.Y[0, j])], [Num(ly.D[j, 0])], key=_key(d),
                            note="fused: deltaprop forms a - y directly (the product equals it exactly in exact "
                                 "arithmetic)")
                else:
                    self.eq(lhs, [a, "−", nota.y(j)], [Num(ly.A[j, 0]), "−", Num(tr.Y[0, j])], [Num(ly.D[j, 0])],
                            key=_key(d), note="softmax with cross-entropy: the sum over the Jacobian collapses to "
                                              "a - y, formed directly")
            else:
                assert ly.dA is not None             # what backward received (not fused)
                g = ly.dA[j, 0]
                if i == L - 1:
                    self.scalar_grad(dCda, g, a, j, out=True)
                else:
                    self.hidden_grad(st, i, j, dCda)
                if elementwise:
                    self.prime_eq(dadz, ly.activation, a, ly.A[j, 0], s)
                    self.eq(lhs, [dCda, "·", dadz], [Num(g), "×", Num(s)], [Num(ly.D[j, 0])], key=_key(d))
                    three = True
                else:
                    self.eq(lhs, [Word("softmax Jacobian product")], [Num(ly.D[j, 0])], key=_key(d),
                            note="softmax couples its outputs: delta_j = a_j (g_j - sum_k g_k a_k), not a product")
            for k in self.shown(ly.n_in):
                if k is None:
                    self.doc.append(Para("…"))
                    continue
                w = nota.w(i, j, k)
                dzdw = Der(z, w)
                a_k = A_sym(nota, i - 1, k)
                self.eq([dzdw], [a_k], [Num(ly.A_prev[k, 0])], key=dzdw.key)
                dCdw = Der(C, w)
                if three:
                    self.eq([dCdw], [dCda, "·", dadz, "·", dzdw],
                            [Num(g), "×", Num(s), "×", Num(ly.A_prev[k, 0])], [Num(ly.dW[j, k])],
                            key=dCdw.key)
                else:
                    self.eq([dCdw], [Der(C, z), "·", dzdw], [Num(ly.D[j, 0]), "×", Num(ly.A_prev[k, 0])],
                            [Num(ly.dW[j, k])], key=dCdw.key)
            if not ly.fixed_bias:
                bj = nota.bias(i, j)
                self.eq([Der(C, bj)], [Der(C, z), "·", Der(z, bj)], [Num(ly.D[j, 0]), "×", "1"], [Num(ly.db[j])],
                        key=Der(C, bj).key)
        if ly.fixed_bias:
            self.fixed_bias_note(i, ly, "its derivative is computed but not used; it is")

    def scalar_grad(self, dCda: Der, g: float, a: Sym, j: int, out: bool) -> None:
        tr, nota = self.tr, self.nota
        y = nota.y(j)
        A, Y = tr.steps[0].layers[-1].A[j, 0], tr.Y[0, j]
        if tr.loss == "quadratic":
            sym = nota.grad_quadratic(a, y)
            num = nota.grad_quadratic(Num(A), Num(Y))
            self.eq([dCda], sym, num, [Num(g)], key=dCda.key)
        elif tr.loss == "binary_cross_entropy":
            sym = ["−", Frac([Group([y, "−", a], paren=True)], [Group([a, Group(["1", "−", a], paren=True)])])]
            num = ["−", Frac([Group([Num(Y), "−", Num(A)], paren=True)],
                             [Group([Num(A), "×", Group(["1", "−", Num(A)], paren=True)])])]
            self.eq([dCda], sym, num, [Num(g)], key=dCda.key)
        elif tr.loss == "cross_entropy":
            self.eq([dCda], ["−", Frac([y], [a])], ["−", Frac([Num(Y)], [Num(A)])], [Num(g)], key=dCda.key)
        else:
            self.eq([dCda], [Num(g)], key=dCda.key)

    def prime_eq(self, dadz: Der, act: str, a: Sym, aval: float, s: float) -> None:
        f_sym, f_num = prime_formula(act, a, aval)
        sides: list[Sequence[TokLike]] = [[dadz]]
        sides += [[f] for f in (f_sym, f_num) if f is not None]
        if f_sym is None and act in PRIME_WORDS:
            sides.append([Word(PRIME_WORDS[act])])
        self.eq(*(sides + [[Num(s)]]), key=dadz.key)

    def hidden_grad(self, st: StepRecord, i: int, j: int, dCda: Der) -> None:
        """dC/da_j = sum over the neurons r above of delta_r w_rj: what Dense.backward received."""
        nota = self.nota
        above = st.layers[i + 1]
        ly = st.layers[i]
        shown = self.shown(above.n_out)
        sep_terms = isinstance(nota, Mazur) and i + 1 == self.L - 1 and self.tr.loss in ("quadratic",
                                                                                          "binary_cross_entropy") \
            and above.activation != "softmax" and not self.tr.fused
        sym: list[Tok] = []
        num: list[Tok] = []
        for r in shown:
            if r is None:
                sym.append(Op("…"))
                num.append(Op("…"))
                continue
            if sep_terms:
                e = nota.cost_term(r)
                assert e is not None                 # Mazur's notation names each output's term
                t = Der(e, nota.a(i, j))
                self.eq([t], [Der(e, nota.z(i + 1, r)), "·", Der(nota.z(i + 1, r), nota.a(i, j))],
                        [Num(above.D[r, 0]), "×", Num(above.W[r, j])], [Num(above.D[r, 0] * above.W[r, j])],
                        key=t.key)
                sym.append(t)
                num.append(Num(above.D[r, 0] * above.W[r, j]))
            else:
                sym.append(Group([nota.delta(i + 1, r), "·", nota.w(i + 1, r, j)]))
                num.append(Group([Num(above.D[r, 0]), "×", Num(above.W[r, j])]))
        assert ly.dA is not None                     # a hidden layer's, as backward received it
        self.eq([dCda], _joined(sym, "+"), _joined(num, "+"), [Num(ly.dA[j, 0])], key=dCda.key)

    # -- after the first step ------------------------------------------------------------
    def later(self) -> None:
        tr, nota = self.tr, self.nota
        C = nota.cost
        if len(tr.steps) > 1:
            self.doc.append(Section(f"Rounds 1 to {len(tr.steps)}"))
            self.doc.append(Para(f"Each round is one more forward pass, backpropagation and update on the same "
                                 f"{'example' if tr.m == 1 else 'batch'}; round 1 is shown in full above."))
            self.doc.append(Table(["round", f"{C.flat(self.ctx)} before", f"{C.flat(self.ctx)} after"],
                                  [[str(s.round), Num(s.cost), Num(s.cost_after)] for s in tr.steps]))
            last = tr.steps[-1]
            self.eq([C, Word(f"after round {last.round}")], [Num(last.cost_after)], key=self.cost_after_key(last.round))
        if tr.rounds:
            self.doc.append(Section("Later rounds"))
            self.doc.append(Para("The same update, repeated (only the cost is recorded)."))
            for n, cost in sorted(tr.rounds.items()):
                self.eq([C, Word(f"after {n} rounds")], [Num(cost)], key=self.cost_after_key(n))


def _key(tok: Tok) -> str | None:
    return tok.key if isinstance(tok, (Sym, Der)) else None


def _joined(toks: Iterable[TokLike], op: str) -> list[Tok]:
    out: list[Tok] = []
    for t in toks:
        if out:
            out.append(_tok(op))
        out.append(_tok(t))
    return out


# -- formats ----------------------------------------------------------------------------------

def _para_text(p: Para, ctx: Ctx) -> str:
    return "".join(x if isinstance(x, str) else x.flat(ctx) for x in p.parts)


def _wrap(s: str, width: int, indent: str = "") -> list[str]:
    import textwrap
    return textwrap.wrap(s, width=width, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False) or [""]


def to_text(doc: list[Block], ctx: Ctx, trace: TraceRecord, nota: Notation) -> str:
    out: list[str] = []
    for block in doc:
        if isinstance(block, Title):
            out += [block.text, "=" * len(block.text)]
        elif isinstance(block, Section):
            out += ["", block.text, "-" * len(block.text)] if block.level == 2 else ["", block.text + ":"]
        elif isinstance(block, Para):
            text = _para_text(block, ctx)
            out += _wrap(("Note: " if block.kind == "note" else "") + text, LINE_WIDTH)
        elif isinstance(block, Eq):
            out += _eq_text(block, ctx)
        elif isinstance(block, Table):
            rows = [block.header] + [[c if isinstance(c, str) else c.flat(ctx) for c in r] for r in block.rows]
            widths = [max(len(r[i]) for r in rows) for i in range(len(block.header))]
            for n, r in enumerate(rows):
                out.append("  " + "  ".join(c.rjust(w) for c, w in zip(r, widths)))
                if n == 0:
                    out.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(out) + "\n"


def _eq_text(eq: Eq, ctx: Ctx) -> list[str]:
    boxes = [join_text(side, ctx) for side in eq.sides]
    eqs = Box(["="])
    parts = [boxes[0]]
    for b in boxes[1:]:
        parts += [eqs, b]
    one = hcat(parts)
    if one.width + 2 <= LINE_WIDTH or len(boxes) <= 2:
        lines = ["  " + s for s in one.lines]
    else:
        pad = Box([" " * boxes[0].width])
        lines = ["  " + s for s in hcat([boxes[0], eqs, boxes[1]]).lines]
        for b in boxes[2:]:
            lines += ["  " + s for s in hcat([pad, eqs, b]).lines]
    if eq.note:
        note = f"[{eq.note}]"
        if len(lines) == 1 and len(lines[0]) + 3 + len(note) <= LINE_WIDTH + 40:
            lines[0] += "   " + note
        else:
            lines += _wrap(note, LINE_WIDTH, "    ")
    return lines


def _tex_text(s: str) -> str:
    """Plain text for LaTeX's text mode: specials escaped, Unicode as TeX (the file stays ASCII)."""
    table = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#", "^": r"\^{}",
             "_": r"\_", "%": r"\%", "~": r"\~{}", "<": r"$<$", ">": r"$>$", "|": r"$|$",
             "−": "-", "–": "--", "—": "---", "…": r"\ldots{}", "×": r"$\times$", "·": r"$\cdot$",
             "⊙": r"$\odot$", "∂": r"$\partial$", "½": r"$\frac{1}{2}$", "²": r"$^2$", "⁺": r"$^+$",
             "ᵀ": r"$^\top$", "‖": r"$\Vert$", "→": r"$\rightarrow$", "⋮": r"$\vdots$", "ŷ": r"$\hat{y}$",
             "𝓛": r"$\mathcal{L}$", "∇": r"$\nabla$", "Σ": r"$\Sigma$", "≈": r"$\approx$"}
    for ch, tex in _GREEK_TEX.items():
        if len(ch) == 1 and ch not in table:
            table[ch] = "$" + tex + "$"
    out = "".join(table.get(ch, ch) for ch in s)
    return out.encode("ascii", "replace").decode("ascii")


def _eq_tex(eq: Eq, ctx: Ctx) -> list[str]:
    sides = [" ".join(t.tex(ctx) for t in side) for side in eq.sides]
    if len(sides) == 1:
        lines = [sides[0]]
    else:
        lines = [f"{sides[0]} &= {sides[1]}"] + [f"&= {s}" for s in sides[2:]]
    return lines


def to_latex(doc: list[Block], ctx: Ctx, trace: TraceRecord, nota: Notation) -> str:
    out = [r"\documentclass[10pt]{article}", r"\usepackage{amsmath}", r"\allowdisplaybreaks",
           r"\setlength{\parindent}{0pt}", r"\begin{document}"]
    for block in doc:
        if isinstance(block, Title):
            out.append(r"\section*{" + _tex_text(block.text) + "}")
        elif isinstance(block, Section):
            out.append((r"\subsection*{" if block.level == 2 else r"\subsubsection*{") + _tex_text(block.text) + "}")
        elif isinstance(block, Para):
            text = "".join(_tex_text(x) if isinstance(x, str) else "$" + x.tex(ctx) + "$" for x in block.parts)
            out.append((r"\textbf{Note:} " if block.kind == "note" else "") + text + "\n")
        elif isinstance(block, Eq):
            lines = _eq_tex(block, ctx)
            out.append(r"\begin{align*}")
            out.append(" \\\\\n".join(lines))
            out.append(r"\end{align*}")
            if block.note:
                out.append(r"\emph{" + _tex_text(block.note) + "}\n")
        elif isinstance(block, Table):
            out.append(r"\begin{tabular}{" + "r" * len(block.header) + "}")
            out.append(" & ".join(_tex_text(h) for h in block.header) + r" \\ \hline")
            for r in block.rows:
                out.append(" & ".join(_tex_text(c) if isinstance(c, str) else "$" + c.tex(ctx) + "$" for c in r)
                           + r" \\")
            out.append(r"\end{tabular}" + "\n")
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def to_markdown(doc: list[Block], ctx: Ctx, trace: TraceRecord, nota: Notation) -> str:
    out: list[str] = []
    for block in doc:
        if isinstance(block, Title):
            out += [f"# {block.text}", ""]
        elif isinstance(block, Section):
            out += [f"{'#' * block.level} {block.text}", ""]
        elif isinstance(block, Para):
            text = "".join(_md_escape(x) if isinstance(x, str) else "$" + x.tex(ctx) + "$" for x in block.parts)
            out += [(f"> **Note:** {text}" if block.kind == "note" else text), ""]
        elif isinstance(block, Eq):
            lines = _eq_tex(block, ctx)
            if len(lines) == 1:
                body = lines[0]
            else:
                body = r"\begin{aligned}" + " \\\\ ".join(lines) + r"\end{aligned}"
            out += ["$$", body, "$$", ""]
            if block.note:
                out += [f"*{_md_escape(block.note)}*", ""]
        elif isinstance(block, Table):
            out.append("| " + " | ".join(block.header) + " |")
            out.append("|" + "---:|" * len(block.header))
            for r in block.rows:
                out.append("| " + " | ".join(c if isinstance(c, str) else c.flat(ctx) for c in r) + " |")
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _md_escape(s: str) -> str:
    return re.sub(r"([\\`*_\[\]<>|$])", r"\\\1", s)


_CSS = """
body { font-family: Georgia, 'Times New Roman', serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem;
       color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid #ccc; margin-top: 2rem; } h3 { font-size: 1.05rem; }
.note { background: #fff7e0; border-left: 4px solid #e0a800; padding: 0.4rem 0.8rem; margin: 0.6rem 0; }
/* An equation: its formula on one line (never broken: a formula wider than the page scrolls
   in its own box), then the erratum, which may go to the next line. */
.eq { margin: 0.35rem 0 0.35rem 1.2rem; display: flex; flex-wrap: wrap; align-items: center; column-gap: 1rem; }
.formula { white-space: nowrap; max-width: 100%; overflow-x: auto; overflow-y: hidden; padding: 0.1rem 0; }
.eq .erratum { color: #a04000; font-style: italic; font-size: 0.9rem; }
.frac { display: inline-flex; flex-direction: column; vertical-align: middle; text-align: center; }
.frac > span:first-child { border-bottom: 1px solid currentColor; padding: 0 0.2rem; }
/* A matrix in brackets, as bmatrix: a [ and a ] of the table's full height (bars would read as |A|). */
.mat { display: inline-block; position: relative; vertical-align: middle; margin: 0.15rem 0.15rem; padding: 0 0.3rem; }
.mat::before, .mat::after { content: ""; position: absolute; top: 0; bottom: 0; width: 0.35rem;
                            box-sizing: border-box; border: 1.5px solid #333; }
.mat::before { left: 0; border-right: none; }
.mat::after { right: 0; border-left: none; }
.mat table { border-collapse: collapse; }
.mat td { padding: 0.05rem 0.35rem; text-align: right; font-family: 'DejaVu Sans Mono', monospace; font-size: 0.9rem; }
table.data { border-collapse: collapse; } table.data td, table.data th { padding: 0.2rem 0.8rem; text-align: right;
             border-bottom: 1px solid #ddd; font-family: 'DejaVu Sans Mono', monospace; }
.word { font-style: normal; font-family: sans-serif; font-size: 0.9rem; }
figure { margin: 1rem 0; }
.drawing { display: flex; flex-wrap: wrap; gap: 0.5rem; overflow-x: auto; }   /* a wide network scrolls */
.drawing svg { flex: none; border: 1px solid #ddd; background: #fcfcfc; }
svg text { font-family: 'DejaVu Sans', sans-serif; }
"""


def to_html(doc: list[Block], ctx: Ctx, trace: TraceRecord, nota: Notation) -> str:
    title = next((b.text for b in doc if isinstance(b, Title)), "deltaprop explain")
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{_html.escape(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>"]
    for block in doc:
        if isinstance(block, Title):
            out.append(f"<h1>{_html.escape(block.text)}</h1>")
        elif isinstance(block, Section):
            out.append(f"<h{block.level}>{_html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            text = "".join(_html.escape(x) if isinstance(x, str) else x.html(ctx) for x in block.parts)
            out.append(f'<div class="note"><b>Note:</b> {text}</div>' if block.kind == "note" else f"<p>{text}</p>")
        elif isinstance(block, Eq):
            formula = " = ".join(join_html(side, ctx) for side in block.sides)
            note = f'<span class="erratum">[{_html.escape(block.note)}]</span>' if block.note else ""
            out.append(f'<div class="eq"><span class="formula">{formula}</span>{note}</div>')
        elif isinstance(block, Table):
            head = "".join(f"<th>{_html.escape(h)}</th>" for h in block.header)
            body = "".join("<tr>" + "".join(f"<td>{_html.escape(c) if isinstance(c, str) else c.html(ctx)}</td>"
                                            for c in r) + "</tr>" for r in block.rows)
            out.append(f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
        elif isinstance(block, Drawing):
            out.append(_drawing(block.step, trace, nota, ctx))
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


# -- the drawing of the network (HTML) ---------------------------------------------------
#
# Two SVG pictures, before and after the update, on one layout. Each node shows its
# summed input, its output and its bias, in the notation's symbols; each edge, where
# there are few enough, its weight (and before the update dC/dw). Numbers are cut to
# four significant digits to fit; every digit is in the hover text. The page has no
# script, so text is measured by estimate: DejaVu Sans's advance widths, on the wide side.

FONT = 11                  # px, every label of the drawing
LEAD = 13                  # px from one line of a label to the next
SCRIPT = 0.7               # a sub- or superscript's size, of the text's
MARGIN, TITLE = 12, 34     # px round the drawing, and the band of its title
MAX_LABELLED = 16          # edges between two layers that may still get labels
PAD = 2                    # px a line keeps clear of a label's text

_SIZE = {"sup": SCRIPT, "sub": SCRIPT, "subsub": SCRIPT * 0.8}   # of the text's size
_SHIFT = {"sup": 0.38, "sub": -0.2, "subsub": -0.32}                # of the text's size, up
_EM = {**dict.fromkeys(" .,:;", 0.34), **dict.fromkeys("ijlIJ", 0.3), **dict.fromkeys("()[]-frt", 0.42),
       **dict.fromkeys("=+−×·", 0.84), **dict.fromkeys("mwMW…⋮", 1.0)}


def short(value: float) -> str:
    """A number for the drawing: 4 significant digits, in powers of ten below 0.001 and from 1e5.

    >>> short(0.593269992), short(12.395963675), short(2.32386e-07), short(-0.0190491), short(0), short(1.5e5)
    ('0.5933', '12.4', '2.324e−7', '−0.01905', '0', '1.5e5')
    """
    v = float(value)
    if not math.isfinite(v) or v == 0:
        return "0" if v == 0 else str(v)
    if 1e-3 <= abs(v) < 1e5:
        s = np.format_float_positional(v, precision=4, unique=False, fractional=False, trim="-")
    else:
        mant, exp = f"{v:.3e}".split("e")
        s = f"{mant.rstrip('0').rstrip('.')}e{int(exp)}"
    return s.replace("-", "−")


def _runs(sym: Sym) -> list[tuple[str, str]]:
    """A symbol as runs of SVG text, (text, style): style "i" for an italic letter, "sup", "sub", "subsub" or ""."""
    runs = [(sym.base, "i" if len(sym.base) == 1 else "")]
    sup = sym.sup + ("+" if sym.plus else "")
    if sup:
        runs.append((sup, "sup"))         # as Sym.html: the superscript, then the subscript
    if sym.sub:
        head, _, tail = sym.sub.partition("_")            # Mazur's h1_1: a subscript's subscript
        runs += [(head, "sub")] + ([(tail, "subsub")] if tail else [])
    return runs


def _says(sym: Sym, value: float) -> list[tuple[str, str]]:
    """``sym = value``, as runs."""
    return _runs(sym) + [(f" = {short(value)}", "")]


#: Runs of SVG text, (text, style), as :func:`_runs` makes them.
Runs: TypeAlias = "Sequence[tuple[str, str]]"
#: A point of the drawing, (x, y) in px.
Point: TypeAlias = "tuple[float, float]"
#: An edge, (c, j, k): from neuron k of column c - 1 to neuron j of column c.
EdgeKey: TypeAlias = "tuple[int, int, int]"
#: The neurons each column shows (None marks the cut), as :func:`_kept` gives them.
Columns: TypeAlias = "Sequence[Sequence[int | None]]"


def _width(runs: Runs) -> float:
    """The runs' estimated width in px."""
    return 1.04 * FONT * sum(_EM.get(ch, 0.64) * _SIZE.get(style, 1) for text, style in runs for ch in text)


def _tspans(runs: Runs) -> str:
    """The runs as SVG: scripts smaller and shifted, italic letters, as the equations set them."""
    out = []
    for text, style in runs:
        t = _html.escape(text)
        if style == "i":
            out.append(f'<tspan font-style="italic">{t}</tspan>')
        elif style:
            # shifted by a length: Chromium's "sub" drops a script onto the next line
            cls = "sub" if style == "subsub" else style
            out.append(f'<tspan class="{cls}" font-size="{_SIZE[style]:.0%}" '
                       f'baseline-shift="{_SHIFT[style] * FONT:g}">{t}</tspan>')
        else:
            out.append(t)
    return "".join(out)


class _Label:
    """Lines of runs, each with its colour; ``w`` x ``h`` is the room it takes."""

    def __init__(self, lines: Sequence[tuple[Runs, str]], tip: str = "") -> None:
        self.lines, self.tip = lines, tip          # lines: [(runs, colour)]
        self.w = max(_width(runs) for runs, _ in lines)
        self.h = LEAD * (len(lines) - 1) + 17      # from the first line's ascent to the last's subscripts

    def svg(self, x: float, y: float, cls: str, angle: float = 0.0) -> str:
        """One <text> centred at (x, y), turned by angle (radians) about its centre; a line to each
        <tspan> (one box, so that its lines are measured as one)."""
        lines = []
        for n, (runs, colour) in enumerate(self.lines):
            dy = f' dy="{LEAD}"' if n else ""
            fill = f' fill="{colour}"' if colour else ""
            lines.append(f'<tspan x="{x:.1f}"{dy}{fill}>{_tspans(runs)}</tspan>')
        base = y - self.h / 2 + 12                # the first baseline, 12 px under the box's top
        turn = f' transform="rotate({math.degrees(angle):.2f} {x:.1f} {y:.1f})"' if angle else ""
        return (f'<text class="{cls}" x="{x:.1f}" y="{base:.1f}" font-size="{FONT}" text-anchor="middle"{turn}>'
                f'{"".join(lines)}</text>')


def _node_labels(st: StepRecord, trace: TraceRecord, nota: Notation, ctx: Ctx,
                 after: bool) -> dict[tuple[int, int], _Label]:
    """(column, neuron) -> the node's label: its z and a (the input: its value) and bias, in the notation."""
    labels = {}
    p = ctx.precision
    for c, col in enumerate([_kept(n, ctx.max_units) for n in trace.sizes]):
        for j in col:
            if j is None:
                continue
            if c == 0:
                x = A_sym(nota, -1, j)
                labels[c, j] = _Label([(_says(x, trace.X[0, j]), "")], f"{x.flat(ctx)} = {fmt(trace.X[0, j], p)}")
                continue
            ly = st.layers[c - 1]
            Z, A, b = (ly.Z_new, ly.A_new, ly.b_new) if after else (ly.Z, ly.A, ly.b)
            shown = [(nota.z(c - 1, j), Z[j, 0], ""), (nota.a(c - 1, j), A[j, 0], ""),
                     (nota.bias(c - 1, j, plus=after), b[j], "#666")]
            labels[c, j] = _Label([(_says(sym, v), colour) for sym, v, colour in shown],
                                  "; ".join(f"{sym.flat(ctx)} = {fmt(v, p)}" for sym, v, _ in shown))
    return labels


def _edge_label(st: StepRecord, nota: Notation, ctx: Ctx, c: int, j: int, k: int, after: bool) -> _Label:
    """Edge k -> j into column c: its weight, and before the update dC/dw (the orange line, "∂")."""
    ly = st.layers[c - 1]
    w = nota.w(c - 1, j, k, plus=after)
    W = ly.W_new if after else ly.W
    tip = f"{w.flat(ctx)} = {fmt(W[j, k], ctx.precision)}"
    lines = [(_says(w, W[j, k]), "")]
    if not after:
        tip += f"; {Der(nota.cost, nota.w(c - 1, j, k)).flat(ctx)} = {fmt(ly.dW[j, k], ctx.precision)}"
        lines.append(([(f"∂: {short(ly.dW[j, k])}", "")], "#a04000"))
    return _Label(lines, tip)


@overload
def _edge_keys(cols: Columns, rows: Literal[False] = ...) -> Iterator[EdgeKey]: ...
@overload
def _edge_keys(cols: Columns, rows: Literal[True]) -> Iterator[tuple[EdgeKey, tuple[int, int]]]: ...


def _edge_keys(cols: Columns, rows: bool = False) -> Iterator[EdgeKey | tuple[EdgeKey, tuple[int, int]]]:
    """(c, j, k) for each edge drawn, from neuron k of column c - 1 to neuron j of column c (with the
    rows they are drawn at, if ``rows``); the cut, None, has none."""
    for c in range(1, len(cols)):
        for jj, j in enumerate(cols[c]):
            for kk, k in enumerate(cols[c - 1]):
                if j is not None and k is not None:
                    yield ((c, j, k), (jj, kk)) if rows else (c, j, k)


class _Layout:
    """Where the nodes go: columns of circles of radius r, gap_x apart, their centres gap_y apart."""

    def __init__(self, cols: Columns, r: float, gap_x: float, gap_y: float) -> None:
        self.cols, self.r, self.gap_x, self.gap_y = cols, r, gap_x, gap_y
        tallest = max(len(c) for c in cols)
        self.width = 2 * (MARGIN + r) + gap_x * (len(cols) - 1)
        self.height = TITLE + 2 * (MARGIN + r) + gap_y * (tallest - 1)

    def pos(self, c: int, idx: int) -> Point:
        """The centre of row idx of column c: each column centred on the drawing's middle."""
        middle = TITLE + (self.height - TITLE) / 2
        return MARGIN + self.r + c * self.gap_x, middle + (idx - (len(self.cols[c]) - 1) / 2) * self.gap_y

    def edges(self) -> Iterator[tuple[EdgeKey, Point, Point]]:
        """((c, j, k), start, end) for each edge drawn: from circle to circle, on the line of centres."""
        for (c, j, k), (jj, kk) in _edge_keys(self.cols, rows=True):
            (x1, y1), (x2, y2) = self.pos(c - 1, kk), self.pos(c, jj)
            d = math.hypot(x2 - x1, y2 - y1)
            ux, uy = (x2 - x1) / d * self.r, (y2 - y1) / d * self.r
            yield (c, j, k), (x1 + ux, y1 + uy), (x2 - ux, y2 - uy)

    def circles(self) -> list[tuple[float, float, float]]:
        return [(*self.pos(c, idx), self.r) for c, col in enumerate(self.cols)
                for idx, j in enumerate(col) if j is not None]


class _Box:
    """A label's room: a w x h rectangle centred at (x, y), turned by angle (radians) to run along its
    edge, on its side -1 (above) or 1 (below)."""

    def __init__(self, x: float, y: float, w: float, h: float, angle: float = 0.0, side: int = 0) -> None:
        self.x, self.y, self.hw, self.hh, self.angle, self.side = x, y, w / 2, h / 2, angle, side
        self.cos, self.sin = math.cos(angle), math.sin(angle)

    def toward_edge(self, h: float) -> Point:
        """The centre for a label h high in this room: against the room's long side nearest its edge."""
        s = -self.side * (self.hh - h / 2)
        return self.x - self.sin * s, self.y + self.cos * s

    def local(self, x: float, y: float) -> Point:
        """(x, y) in the box's own frame: its centre at 0, its text along the first axis."""
        dx, dy = x - self.x, y - self.y
        return dx * self.cos + dy * self.sin, -dx * self.sin + dy * self.cos

    def corners(self) -> list[Point]:
        return [(self.x + u * self.cos - v * self.sin, self.y + u * self.sin + v * self.cos)
                for u, v in ((-self.hw, -self.hh), (self.hw, -self.hh), (self.hw, self.hh), (-self.hw, self.hh))]

    def on_circle(self, x: float, y: float, r: float, pad: float = 3.0) -> bool:
        """Whether the box comes within pad of the circle: its point nearest the centre does."""
        u, v = self.local(x, y)
        return math.hypot(u - min(max(u, -self.hw), self.hw), v - min(max(v, -self.hh), self.hh)) < r + pad

    def crosses(self, p: Point, q: Point, pad: float = PAD) -> bool:
        """Whether the segment p-q enters the box grown by pad: Liang-Barsky clipping, in the box's frame."""
        (u1, v1), (u2, v2) = self.local(*p), self.local(*q)
        du, dv = u2 - u1, v2 - v1
        hw, hh = self.hw + pad, self.hh + pad
        t0, t1 = 0.0, 1.0
        for a, b in ((-du, u1 + hw), (du, hw - u1), (-dv, v1 + hh), (dv, hh - v1)):
            if a == 0:
                if b < 0:
                    return False
                continue
            t = b / a
            if a < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                return False
        return True

    def meets(self, other: _Box, pad: float = 3.0) -> bool:
        """Whether two boxes come within pad of each other: no axis of either separates them."""
        for box in (self, other):
            for ax, ay in ((box.cos, box.sin), (-box.sin, box.cos)):
                a = [x * ax + y * ay for x, y in self.corners()]
                b = [x * ax + y * ay for x, y in other.corners()]
                if min(max(a), max(b)) - max(min(a), min(b)) <= -pad:
                    return False
        return True


def _to_segment(x: float, y: float, p: Point, q: Point) -> float:
    """The distance from (x, y) to the segment p-q."""
    (x1, y1), (x2, y2) = p, q
    dx, dy = x2 - x1, y2 - y1
    t = min(1.0, max(0.0, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy)))
    return math.hypot(x - x1 - t * dx, y - y1 - t * dy)


def _beside(w: float, h: float, p: Point, q: Point, t: float) -> Iterator[_Box]:
    """A w x h room at fraction t along p-q, turned to run along it, just above it and just below."""
    (x1, y1), (x2, y2) = p, q
    d = math.hypot(x2 - x1, y2 - y1)
    nx, ny = (y1 - y2) / d, (x2 - x1) / d                  # the normal, pointing down the page
    off = h / 2 + PAD + 2                                  # the line passes 2 px clear
    angle = math.atan2(y2 - y1, x2 - x1)                   # edges run left to right: the text stays upright
    for side in (-1, 1):
        yield _Box(x1 + t * (x2 - x1) + side * off * nx, y1 + t * (y2 - y1) + side * off * ny, w, h, angle, side)


def _place(rooms: Mapping[EdgeKey, tuple[float, float]], layout: _Layout) -> dict[EdgeKey, _Box] | None:
    """Each edge's label's room (rooms: key -> its w, h): along its edge, clear of the circles, the
    lines and the labels placed before, and plainly nearer its own edge than any other (that margin is
    maximised, up to 30 px, then the nearness to the edge's middle); None if a label finds no room."""
    edges = list(layout.edges())
    circles = layout.circles()
    taken = [_Box(100, TITLE / 2, 200, TITLE)]             # the title
    placed = {}
    for key, p, q in edges:
        best = None
        for t in (0.5, 0.45, 0.55, 0.4, 0.6, 0.35, 0.65, 0.3, 0.7, 0.25, 0.75, 0.2, 0.8, 0.15, 0.85):
            for box in _beside(*rooms[key], p, q, t):
                if any(not (2 <= x <= layout.width - 2 and 2 <= y <= layout.height - 2) for x, y in box.corners()) or \
                        any(box.on_circle(*c) for c in circles) or any(box.meets(b) for b in taken) or \
                        any(box.crosses(p2, q2) for _, p2, q2 in edges):
                    continue
                own = _to_segment(box.x, box.y, p, q)
                margin = min((_to_segment(box.x, box.y, p2, q2) for k2, p2, q2 in edges if k2 != key),
                             default=1e9) - own
                if margin >= 6 and (best is None or min(margin, 30) > best[0] + 0.5):
                    best = (min(margin, 30), box)        # below 6 px it would seem to label another edge
        if best is None:
            return None
        placed[key] = best[1]
        taken.append(best[1])
    return placed


def _layout(cols: Columns, nodes: Sequence[_Label], rooms: Mapping[EdgeKey, tuple[float, float]]
            ) -> tuple[_Layout, dict[EdgeKey, _Box] | None]:
    """The layout, and the rooms of the edge labels (None for no labels): nodes as large as their text,
    the gaps widened
    a little if a label finds no place, and no labels if one still does not, or if two layers have
    more than MAX_LABELLED edges between them (between layers of four, sixteen edges cross too often)."""
    r = 3 + max(math.hypot(lab.w / 2, lab.h / 2) for lab in nodes)
    dense = max(len([j for j in a if j is not None]) * len([j for j in b if j is not None])
                for a, b in zip(cols[:-1], cols[1:])) > MAX_LABELLED
    for grow in () if dense else ((1, 1), (1.25, 1.2)):    # a larger drawing is no clearer
        layout = _Layout(cols, r, (2 * r + 120) * grow[0], (2 * r + 40) * grow[1])
        places = _place(rooms, layout)
        if places is not None:
            return layout, places
    return _Layout(cols, r, 2 * r + 150, 2 * r + 24), None


def _drawing(st: StepRecord, trace: TraceRecord, nota: Notation, ctx: Ctx) -> str:
    """Two SVG pictures of the network: before the update (w, dC/dw, z, a, b) and after it (w+, z, a, b+)."""
    cols = [_kept(n, ctx.max_units) for n in trace.sizes]
    nodes = [_node_labels(st, trace, nota, ctx, after) for after in (False, True)]
    edges = [{key: _edge_label(st, nota, ctx, *key, after) for key in _edge_keys(cols)} for after in (False, True)]
    # an edge's label takes one room in both pictures: as wide as the wider, as high as the one before
    rooms = {key: (max(edges[0][key].w, edges[1][key].w), edges[0][key].h) for key in edges[0]}
    layout, places = _layout(cols, [lab for n in nodes for lab in n.values()], rooms)
    z, a = _names(nota)
    first = "" if trace.m == 1 else f" ({z} and {a} of the first of the {trace.m} examples)"
    C, w = nota.cost.html(ctx), Sym("w").html(ctx)
    caption = (f"Before the update, each node shows its {z}, {a} and bias, each edge its weight {w} and ∂{C}/∂{w} "
               f"(marked ∂). After the update: the new weights and biases, and the {z} and {a} of the forward pass "
               "they give. Numbers are rounded to 4 significant digits: hover over a node or an edge for all of them.")
    if any(n > ctx.max_units for n in trace.sizes):
        caption += f" Layers wider than {ctx.max_units} show the first {ctx.max_units - 1} neurons and the last."
    if places is None:
        caption += " There are too many edges to label: hover over an edge for its numbers."
    pictures = [_svg(layout, nodes[n], edges[n], places or {}, after=bool(n)) for n in range(2)]
    return "\n".join([f"<h2>The network{first}</h2>", "<figure>", '<div class="drawing">', *pictures, "</div>",
                      f"<figcaption>{caption}</figcaption>", "</figure>"])


def _names(nota: Notation) -> tuple[str, str]:
    """The notation's names for a node's summed input and output, as HTML: z and a; net and out; z and x, ŷ."""
    outs = dict.fromkeys(Sym(nota.a(i, 0).base).html(None) for i in range(nota.L))
    return Sym(nota.z(0, 0).base).html(None), " or ".join(outs)


def _svg(layout: _Layout, nodes: Mapping[tuple[int, int], _Label], edge_labels: Mapping[EdgeKey, _Label],
         places: Mapping[EdgeKey, _Box], after: bool) -> str:
    w, h, r = layout.width, layout.height, layout.r
    body = [f'<svg width="{w:.0f}" height="{h:.0f}" viewBox="0 0 {w:.0f} {h:.0f}" role="img">',
            f'<text x="{MARGIN}" y="24" font-size="15" font-weight="bold">'
            f'{"after" if after else "before"} the update</text>']
    for key, (x1, y1), (x2, y2) in layout.edges():
        tip = edge_labels[key].tip if key in edge_labels else ""
        body.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#7a8ca5" '
                    f'stroke-width="1.4">' + (f"<title>{_html.escape(tip)}</title>" if tip else "") + "</line>")
    for key, box in places.items():
        label = edge_labels[key]
        body.append(label.svg(*box.toward_edge(label.h), "edge-label", box.angle))
    for c, col in enumerate(layout.cols):
        for idx, j in enumerate(col):
            x, y = layout.pos(c, idx)
            if j is None:
                body.append(f'<text class="cut" x="{x:.1f}" y="{y + 7:.1f}" font-size="20" '
                            'text-anchor="middle">⋮</text>')
                continue
            fill = "#eef3fb" if c == 0 else "#f4f9ee" if c == len(layout.cols) - 1 else "#ffffff"
            label = nodes[c, j]
            body.append(f'<g class="node"><circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{fill}" stroke="#33415c" '
                        f'stroke-width="1.5"><title>{_html.escape(label.tip)}</title></circle>'
                        f'{label.svg(x, y, "node-label")}</g>')
    body.append("</svg>")
    return "\n".join(body)


_FORMATTERS = {"text": to_text, "markdown": to_markdown, "latex": to_latex, "html": to_html}


def render(trace: TraceRecord, *, format: str = "text", level: str = "matrix", notation: str = "nielsen",
           precision: int = 9, max_units: int = 8) -> str:
    """Render a :class:`deltaprop.explain.Trace`; see :meth:`Trace.render`."""
    format = check_choice("format", format, FORMATS)
    level = check_choice("level", level, LEVELS)
    notation = check_choice("notation", notation, NOTATIONS)
    for name, value, low, high in (("precision", precision, 1, 17), ("max_units", max_units, 2, 10_000)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise ValidationError(f"The '{name}' argument must be an integer from {low} to {high}. "
                                  f"Got {value!r} instead.")
    if level == "neuron" and trace.m > 1:
        raise ValidationError(f"level='neuron' writes out one example's chain rule, scalar by scalar; this trace "
                              f"has a batch of {trace.m} examples. Use level='matrix', or explain one example "
                              "(x[:1], y[:1]).")
    ctx = Ctx(int(precision), int(max_units))
    nota = _NOTATION[notation](trace)
    doc = _Builder(trace, nota, level, ctx).build()
    return _FORMATTERS[format](doc, ctx, trace, nota)
