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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)
