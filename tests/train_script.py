"""A training run that tests/test_training.py kills (SIGKILL, SIGTERM, SIGINT) and resumes.

    python tests/train_script.py CHECKPOINT_DIR OUT.dpz EPOCHS ENGINE

Trains a small ReLU network with dropout and Adam on fixed synthetic data, writing a
checkpoint after every epoch into CHECKPOINT_DIR and a CSV log beside it; if the folder
already holds a checkpoint it resumes from the most advanced one. At the end it saves
the network to OUT.dpz. Prints one line per epoch (after that epoch's checkpoint is on
disk), so the test knows which epochs were complete when it struck.
"""

import sys
from pathlib import Path

import numpy as np

import deltaprop as dp


def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(750, 12))
    y = (X[:, 0] * X[:, 1] > 0).astype(int) + 2 * (X[:, 2] > 0.5).astype(int)
    return X, y


def main(directory: str, out: str, epochs: int, engine: str) -> None:
    X, y = data()
    folder = Path(directory)
    resume = folder if folder.is_dir() and any(p.suffix == ".dpz" and not p.name.startswith(".")
                                               for p in folder.iterdir()) else None
    net = dp.Network([12, 48, 48, 4], activation="relu", loss="cross_entropy", dropout=0.1, seed=1)
    net.fit(X, y, epochs=epochs, batch_size=16, optimizer=dp.Adam(lr=3e-3), seed=2, verbose=2, engine=engine,
            validation_split=0.2, resume=resume,
            callbacks=[dp.callbacks.ModelCheckpoint(folder, keep=3),
                       dp.callbacks.CSVLogger(folder.parent / f"{folder.name}.csv")])
    net.save(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
