"""Floor 7: the ``deltaprop`` command line."""

from __future__ import annotations

import argparse
import sys
import time

from . import __version__


def _demo(args: argparse.Namespace) -> int:
    """The book's network: 784-30-10 sigmoid, quadratic cost, SGD eta 3.0, mini-batch 10."""
    import numpy as np

    from .datasets import mnist
    from .network import Network
    from .optimizers import SGD

    (X, y), (X_test, y_test) = mnist(args.data)
    X, y = X[:50_000], y[:50_000]        # the book trains on 50,000 and keeps 10,000 for validation
    net = Network([784, 30, 10], activation="sigmoid", loss="quadratic", init=args.init, seed=args.seed)
    print(f"deltaprop {__version__} demo: {net.sizes} sigmoid, quadratic cost, SGD(lr=3.0), mini-batch 10, "
          f"{len(X)} training / {len(X_test)} test images, init={args.init}, seed={args.seed}", flush=True)
    start = time.perf_counter()
    history = net.fit(X, y, epochs=args.epochs, batch_size=10, optimizer=SGD(lr=3.0),
                      validation_data=(X_test, y_test), verbose=1)
    total = time.perf_counter() - start
    accuracy = history["val_accuracy"][-1]
    print(f"test accuracy after {args.epochs} epochs: {accuracy:.2%} "
          f"({int(round(accuracy * len(X_test)))} / {len(X_test)}); "
          f"{total:.1f} s in all, {np.median(history['seconds']):.2f} s per epoch (median)")
    if args.require is not None and accuracy < args.require:
        print(f"error: test accuracy {accuracy:.2%} is below the required {args.require:.2%}", file=sys.stderr)
        return 1
    return 0


def _explain(args: argparse.Namespace) -> int:
    """One step of backpropagation with every number shown, in the notation of the notes."""
    from . import examples
    from .errors import DeltapropError
    from .explain import explain, parse_rows
    from .optimizers import SGD

    try:
        if (args.example is None) == (args.model is None):
            raise ValueError("give either an example (mazur or kaist) or --model FILE with --input and --target")
        if args.example is not None:
            if args.input is not None or args.target is not None:
                raise ValueError(f"--input and --target go with --model; the {args.example} example brings its own")
            ex = examples.mazur() if args.example == "mazur" else examples.kaist()
            opt = SGD(lr=ex.lr if args.lr is None else args.lr)
            trace = explain(ex, optimizer=opt, steps=args.steps, rounds=args.rounds)
            notation = args.notation or args.example
            level = args.level or "neuron"
        else:
            from .io import load
            if args.input is None or args.target is None:
                raise ValueError("--model needs --input (e.g. '0.05,0.10') and --target (e.g. '0.01,0.99')")
            net = load(args.model)
            x = parse_rows(args.input, name="--input", n=net.n_in)
            y = parse_rows(args.target, name="--target", n=net.n_out)
            trace = explain(net, x, y, optimizer=SGD(lr=0.1 if args.lr is None else args.lr), steps=args.steps,
                            rounds=args.rounds or ())
            notation = args.notation or "nielsen"
            level = args.level or ("neuron" if len(x) == 1 and max(net.sizes) <= args.max_units else "matrix")
        text = trace.render(args.format, level=level, notation=notation, precision=args.precision,
                            max_units=args.max_units)
    except (DeltapropError, ValueError, OSError) as e:
        print(f"deltaprop explain: error: {e}", file=sys.stderr)
        return 2
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.output} ({args.format}, {len(text)} characters)")
    else:
        sys.stdout.write(text)
    return 0


def _add_explain(sub) -> None:
    p = sub.add_parser(
        "explain", help="show one step of backpropagation with every number", description=_explain.__doc__,
        epilog="Examples: deltaprop explain mazur | deltaprop explain kaist --level matrix | "
               "deltaprop explain --model net.dpz --input 0.05,0.10 --target 0.01,0.99 --format html -o step.html")
    p.add_argument("example", nargs="?", choices=("mazur", "kaist"),
                   help="a worked example of the notes: mazur (seed 002, 2-2-2) or kaist (seed 001, 2-2-1)")
    p.add_argument("--model", metavar="FILE", help="a network saved with net.save (instead of an example)")
    p.add_argument("--input", metavar="X", help="the example(s) for --model: numbers separated by commas, "
                                                "rows by ';' (e.g. '0.05,0.10')")
    p.add_argument("--target", metavar="Y", help="the target(s) for --model, as --input (e.g. '0.01,0.99')")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate of the SGD step (default: the example's, or 0.1 for --model)")
    p.add_argument("--format", default="text", choices=("text", "markdown", "latex", "json", "html"),
                   help="output format (default text)")
    p.add_argument("--level", choices=("matrix", "neuron"), default=None,
                   help="matrix: BP1-BP4 per layer; neuron: each scalar chain-rule product "
                        "(default: neuron for the examples and small --model networks)")
    p.add_argument("--notation", choices=("nielsen", "kaist", "mazur"), default=None,
                   help="whose symbols: nielsen (w^l_jk, z^l, a^l, delta^l), kaist (x_mk, W_m, B_m, z_mn, y_mn), "
                        "mazur (i, h, o, net, out, w1..w8) (default: the example's own, else nielsen)")
    p.add_argument("--steps", type=int, default=1, metavar="N",
                   help="rounds recorded in full; the error after each is listed (default 1)")
    p.add_argument("--rounds", type=int, action="append", default=None, metavar="N",
                   help="also give the error after N rounds (repeatable; mazur's default: 10000, as the source)")
    p.add_argument("--precision", type=int, default=9, help="decimals printed (default 9, as the worked example)")
    p.add_argument("--max-units", type=int, default=8, dest="max_units",
                   help="neurons shown per layer before a network is summarised (default 8)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=_explain)


def _why(args: argparse.Namespace) -> int:
    """Why backpropagation: one full gradient by backprop and by finite differences, timed as the network grows."""
    from .errors import DeltapropError
    from .why import measure

    try:
        report = measure(max_weights=args.max_weights, sizes=args.sizes, batch=args.batch, budget=args.budget,
                         seed=args.seed, threads=args.threads or None, progress=sys.stderr if args.verbose else None)
        print(report)
        if args.plot:
            report.plot(args.plot)
            print(f"wrote {args.plot}")
    except (DeltapropError, ValueError, OSError, ImportError) as e:
        print(f"deltaprop why: error: {e}", file=sys.stderr)
        return 2
    return 0


def _add_why(sub) -> None:
    p = sub.add_parser("why", help="time backprop against finite differences as the network grows",
                       description=_why.__doc__,
                       epilog="Example: deltaprop why --plot why.png   (about 30 s)")
    p.add_argument("--max-weights", type=int, default=100_000, dest="max_weights",
                   help="largest network, in parameters (default 100000)")
    p.add_argument("--sizes", type=int, default=9, help="number of network sizes, log-spaced (default 9)")
    p.add_argument("--batch", type=int, default=100, help="examples in the batch the gradient is taken on (default 100)")
    p.add_argument("--budget", type=float, default=2.0,
                   help="seconds of finite differences per size; past it the weights are sampled and the total "
                        "extrapolated (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed for the networks, data and sampled weights (default 0)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads while timing (default 1, so a busy machine does not distort the curves; "
                        "0 leaves the BLAS as configured)")
    p.add_argument("--plot", metavar="PATH", help="also write a log-log plot (PNG; needs deltaprop[plot])")
    p.add_argument("-v", "--verbose", action="store_true", help="report each size as it is measured")
    p.set_defaults(func=_why)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deltaprop",
        description="Fully-connected neural networks trained by backpropagation.",
        epilog="Example: deltaprop demo --epochs 30",
    )
    parser.add_argument("--version", action="version", version=f"deltaprop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="train the book's 784-30-10 network on MNIST",
                          description=_demo.__doc__,
                          epilog="Example: deltaprop demo --epochs 30 --require 0.95")
    demo.add_argument("--epochs", type=int, default=30, help="passes over the 50,000 training images (default 30)")
    demo.add_argument("--init", default="lecun_normal",
                      help="weight initialisation: lecun_normal (N(0, 1/n_in), default) or standard_normal "
                           "(N(0, 1), the book's first network)")
    demo.add_argument("--seed", type=int, default=0, help="seed for the initial weights and shuffling (default 0)")
    demo.add_argument("--data", default=None, help="folder holding the four MNIST IDX files (default: search)")
    demo.add_argument("--require", type=float, default=None, metavar="ACC",
                      help="exit with status 1 if the final test accuracy is below ACC (e.g. 0.95)")
    demo.set_defaults(func=_demo)
    _add_explain(sub)
    _add_why(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)
