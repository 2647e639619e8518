"""What ``fit(verbose=...)`` shows while a network trains.

* ``verbose=1``: :class:`ProgressBar` - a tqdm bar per epoch when the output is a
  terminal (``pip install "deltaprop[progress]"``), else, as in a log file or CI, one
  plain line per epoch.
* ``verbose=2``: :class:`EpochLogger` - one plain line per epoch, always.

Neither prints in colour; nothing here reads or changes the training itself.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import IO, Any

from .callbacks import Callback, TrainingStateLike, format_logs


class EpochLogger(Callback):
    """One line per epoch: ``epoch 3/30  loss 0.0123  accuracy 0.9501 ... 1.20s``."""

    def __init__(self, file: IO[str] | None = None) -> None:
        self.file = file

    def on_epoch_end(self, state: TrainingStateLike) -> None:
        print(format_logs(state.epoch, state.epochs, state.logs), file=self.file or sys.stdout, flush=True)


class ProgressBar(EpochLogger):
    """A progress bar over the batches of each epoch (tqdm), on a terminal; else one line per epoch."""

    def __init__(self, file: IO[str] | None = None) -> None:
        super().__init__(file)
        self._bar: Any = None           # a tqdm bar while an epoch runs on a terminal
        self._live: bool | None = None

    def _is_live(self) -> bool:
        out = self.file or sys.stdout
        return bool(getattr(out, "isatty", lambda: False)()) and importlib.util.find_spec("tqdm") is not None

    @property
    def wants_batches(self) -> bool:
        if self._live is None:
            self._live = self._is_live()
        return self._live

    def on_epoch_begin(self, state: TrainingStateLike) -> None:
        if not self.wants_batches:
            return
        from tqdm.auto import tqdm

        width = len(str(state.epochs))
        self._bar = tqdm(total=state.n_batches, initial=state.batch, unit="batch", leave=True,
                         desc=f"epoch {state.epoch:>{width}}/{state.epochs}", file=self.file or sys.stdout,
                         dynamic_ncols=True)

    def on_batch_end(self, state: TrainingStateLike) -> None:
        if self._bar is not None:
            self._bar.update(state.batch - self._bar.n)
            if state.batch_loss is not None:
                self._bar.set_postfix_str(f"loss {state.batch_loss:.4f}", refresh=False)

    def on_epoch_end(self, state: TrainingStateLike) -> None:
        if self._bar is None:
            return super().on_epoch_end(state)
        shown = {k: v for k, v in state.logs.items() if k != "seconds"}
        self._bar.set_postfix_str("  ".join(f"{k} {v:.4f}" for k, v in shown.items()), refresh=False)
        self._bar.close()
        self._bar = None

    def on_train_end(self, state: TrainingStateLike) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
