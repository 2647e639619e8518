"""The command line: train, evaluate, predict, gradcheck, info; exit codes; NO_COLOR; resume."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import cli

MNIST_TEST_IMAGES = Path(__file__).resolve().parents[1] / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def flowers(tmp_path):
    """A small CSV with a text target, and a second one without it."""
    rng = np.random.default_rng(0)
    names = ["setosa", "versicolor", "virginica"]
    rows = ["sepal_length,sepal_width,petal_length,species"]
    for i in range(150):
        k = i % 3
        x = rng.normal([5 + k, 3 - 0.3 * k, 1.5 + 2 * k], 0.4)
        rows.append(",".join(f"{v:.2f}" for v in x) + f",{names[k]}")
    path = tmp_path / "flowers.csv"
    path.write_text("\n".join(rows) + "\n")
    new = tmp_path / "new.csv"
    new.write_text("sepal_length,sepal_width,petal_length\n5.0,3.0,1.4\n7.0,2.4,5.6\n")
    return path, new


def test_train_a_csv_then_predict_evaluate_and_info(tmp_path, capsys, flowers):
    table, new = flowers
    model = tmp_path / "flowers.dpz"
    code, out, _ = run(capsys, "train", "--csv", table, "--target", "species", "--standardize", "--test-split", 0.2,
                       "--hidden", 8, "--activation", "tanh", "--loss", "cross_entropy", "--optimizer", "adam",
                       "--lr", 0.02, "--epochs", 40, "--batch-size", 8, "--verbose", 0, "--save", model,
                       "--log", tmp_path / "log.csv")
    assert code == 0 and f"saved {model}" in out
    assert "val_accuracy 1.0000" in out or float(out.split("val_accuracy ")[1].split()[0]) > 0.9
    assert len(list(csv.DictReader((tmp_path / "log.csv").open()))) == 40
    # predict: class names come back, the saved standardisation is applied
    code, out, _ = run(capsys, "predict", model, new, "--proba")
    rows = list(csv.DictReader(out.splitlines()))
    assert code == 0 and [r["prediction"] for r in rows] == ["setosa", "virginica"]
    assert list(rows[0]) == ["prediction", "p_setosa", "p_versicolor", "p_virginica"]
    assert sum(float(rows[0][k]) for k in list(rows[0])[1:]) == pytest.approx(1.0)
    # the same rows through the library, standardised by hand, give the same outputs
    net = dp.load(model)
    meta = dp.io.read_header(model)["metadata"]["cli"]
    scaler = dp.data.Standardizer.from_dict(meta["standardize"])
    A = net.predict(scaler.transform([[5.0, 3.0, 1.4], [7.0, 2.4, 5.6]]))
    assert float(rows[1]["p_virginica"]) == A[1, 2]
    # a file that still has its target column: the column is left out
    code, _, err = run(capsys, "predict", model, table, "-o", tmp_path / "pred.csv")
    assert code == 0 and "wrote 150 predictions" in err
    code, out, _ = run(capsys, "evaluate", model, "--csv", table, "--target", "species", "--json")
    result = json.loads(out)
    assert code == 0 and result["samples"] == 150 and result["accuracy"] > 0.9
    code, out, _ = run(capsys, "info", model)
    assert code == 0 and "a deltaprop model (format version 1" in out and "parameters: 59" in out
    assert "setosa" in out                                    # the metadata


def test_train_mnist_subset_predict_idx_images(tmp_path, capsys):
    model = tmp_path / "m.dpz"
    code, out, _ = run(capsys, "train", "--dataset", "mnist", "--train-size", 2000, "--hidden", 30, "--lr", 3.0,
                       "--batch-size", 10, "--epochs", 1, "--verbose", 2, "--save", model, "--require", 0.5)
    assert code == 0 and "epoch 1/1" in out
    out_csv = tmp_path / "digits.csv"
    code, _, _ = run(capsys, "predict", model, MNIST_TEST_IMAGES, "-o", out_csv)
    predicted = [int(r["prediction"]) for r in csv.DictReader(out_csv.open())]
    (_, _), (X_test, y_test) = dp.datasets.mnist()
    assert code == 0 and len(predicted) == 10_000
    np.testing.assert_array_equal(predicted, dp.load(model).predict(X_test).argmax(axis=1))
    code, out, _ = run(capsys, "evaluate", model, "--dataset", "mnist")
    assert code == 0 and "samples 10000" in out
    # --require not met: exit status 1
    code, _, err = run(capsys, "train", "--dataset", "xor", "--hidden", "", "--epochs", 1, "--verbose", 0,
                       "--require", 0.99)
    assert code == 1 and "below the required 0.99" in err


def test_gradcheck_command(capsys, tmp_path):
    code, out, _ = run(capsys, "gradcheck", "mazur")
    assert code == 0 and "PASSED" in out and "W^2" in out
    code, out, _ = run(capsys, "gradcheck", "--layers", "3,4,2", "--loss", "cross_entropy", "--activation", "relu")
    assert code == 0 and "a random [3, 4, 2] network" in out
    model = tmp_path / "f32.dpz"
    dp.Network([3, 2], dtype="float32", seed=0).save(model)
    code, out, _ = run(capsys, "gradcheck", model)
    assert code == 0 and "float64 copy of the float32 network" in out


@pytest.mark.parametrize("argv, code, message", [
    (["train", "--dataset", "moons", "--layers", "3,4,2", "--verbose", "0"], 2,
     "--layers 3,4,2 does not fit the data, which has 2 features and 2 output"),
    (["train", "--dataset", "moons", "--lr", "-1", "--verbose", "0"], 2, "'lr' argument must be a finite number"),
    (["train", "--dataset", "moons", "--activation", "sigmod", "--verbose", "0"], 2, "Did you mean 'sigmoid'"),
    (["train", "--dataset", "moons", "--hidden", "8,x", "--verbose", "0"], 2, "--hidden must be whole numbers"),
    (["train", "--verbose", "0"], 2, "either --dataset NAME or --csv FILE"),
    (["train", "--csv", "missing.csv", "--verbose", "0"], 3, "missing.csv"),
    (["evaluate", "missing.dpz", "--dataset", "mnist"], 3, "No such file or directory"),
    (["train", "--dataset", "xor", "--hidden", "", "--lr", "1e300", "--activation", "identity",
      "--output-activation", "identity", "--epochs", "3", "--verbose", "0"], 4, "diverged in epoch 1"),
    (["train", "--resume", "--verbose", "0", "--dataset", "xor"], 2, "--resume without a path needs --checkpoint-dir"),
])
def test_errors_and_exit_codes(capsys, tmp_path, monkeypatch, argv, code, message):
    monkeypatch.chdir(tmp_path)
    got, _, err = run(capsys, *argv)
    assert got == code and message in err and err.startswith("deltaprop ")


def test_usage_errors_exit_2_and_help_has_examples(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "--optimizer", "rmsprop"])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "deltaprop train --checkpoint-dir ck --resume" in out and "exit codes:" in out
    assert cli.main([]) == 2


def test_no_color_is_honoured(tmp_path):
    env = dict(os.environ, NO_COLOR="1")
    proc = subprocess.run([sys.executable, "-m", "deltaprop", "evaluate", str(tmp_path / "x.dpz"), "--dataset", "xor"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 3 and "\033[" not in proc.stderr
    assert cli._color("error:", "31", _Tty()) == "\033[31merror:\033[0m"
    os.environ["NO_COLOR"] = "1"
    try:
        assert cli._color("error:", "31", _Tty()) == "error:"
    finally:
        del os.environ["NO_COLOR"]


class _Tty:
    def isatty(self):
        return True


def test_sigint_writes_a_checkpoint_and_resume_continues_where_it_stopped(tmp_path):
    ck, model = tmp_path / "ck", tmp_path / "r.dpz"
    argv = [sys.executable, "-m", "deltaprop", "train", "--dataset", "spirals", "--samples", "3000", "--hidden", "64,64",
            "--activation", "relu", "--loss", "cross_entropy", "--optimizer", "adam", "--lr", "0.003",
            "--batch-size", "8", "--epochs", "6", "--verbose", "2", "--engine", "numpy", "--checkpoint-dir", str(ck),
            "--save", str(model)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (ck / "epoch-0001.dpz").exists() and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert f"resume with: deltaprop train --checkpoint-dir {ck} --resume" in err
    resumed = subprocess.run([sys.executable, "-m", "deltaprop", "train", "--checkpoint-dir", str(ck), "--resume",
                              "--verbose", "2"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stdout and "epoch 6/6" in resumed.stdout and "epoch 1/6" not in resumed.stdout
    # the same run without the interruption ends with the same bits
    plain = subprocess.run(argv[:argv.index("--checkpoint-dir")] + ["--save", str(tmp_path / "plain.dpz")],
                           capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr
    for a, b in zip(dp.load(model).get_weights(), dp.load(tmp_path / "plain.dpz").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_train_plot_writes_pngs(tmp_path, capsys):
    code, out, _ = run(capsys, "train", "--dataset", "circles", "--hidden", 8, "--activation", "tanh", "--loss",
                       "cross_entropy", "--epochs", 3, "--verbose", 0, "--plot", tmp_path / "plots")
    assert code == 0
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert "learning_curves.png" in pngs and "decision_boundary.png" in pngs
    assert all((tmp_path / "plots" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
