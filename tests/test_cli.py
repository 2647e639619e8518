"""The command line: train, evaluate, predict, gradcheck, info; exit codes; NO_COLOR; resume."""

import csv
import json
import re
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
    code, out, _ = run(capsys, "train", "--dataset", "mnist", "--book", "--train-size", 2000, "--epochs", 1,
                       "--verbose", 2, "--save", model, "--require", 0.5)
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
    (["train", "--dataset", "moons", "--lr", "-1", "--verbose", "0"], 2,
     "argument --lr: must be a number in (0, inf); got '-1'"),
    (["train", "--dataset", "moons", "--activation", "sigmod", "--verbose", "0"], 2,
     "argument --activation: invalid choice: 'sigmod'"),
    (["train", "--dataset", "moons", "--hidden", "8,x", "--verbose", "0"], 2,
     "argument --hidden: must be whole numbers separated by commas"),
    (["train", "--dataset", "moons", "--hidden", "3,,4", "--verbose", "0"], 2, "argument --hidden: has an empty size"),
    (["train", "--dataset", "mnist", "--train-size", "0"], 2, "argument --train-size: must be a whole number >= 1"),
    (["train", "--dataset", "mnist", "--train-size", "-1"], 2, "argument --train-size: must be a whole number >= 1"),
    (["train", "--dataset", "mnist", "--train-size", "60000"], 2,
     "--train-size 60000 is more than the 50000 training images left after 10000 for validation"),
    (["train", "--dataset", "moons", "--test-split", "1.5"], 2, "argument --test-split: must be a number in (0, 1)"),
    (["train", "--dataset", "moons", "--hidden", "3000000000", "--verbose", "0"], 2,
     "would need 120.0 GB of memory, more than this machine's"),
    (["train", "--dataset", "moons", "--loss", "binary_cross_entropy", "--output-activation", "tanh"], 2,
     "--loss binary_cross_entropy needs probabilities from the output layer (--output-activation sigmoid or softmax)"),
    (["train", "--dataset", "moons", "--loss", "cross_entropy", "--output-activation", "identity"], 2,
     "add --from-logits with --output-activation identity"),
    (["train", "--verbose", "0"], 2, "either --dataset NAME or --csv FILE"),
    (["train", "--csv", "missing.csv", "--verbose", "0"], 3, "missing.csv"),
    (["evaluate", "missing.dpz", "--dataset", "mnist"], 3, "No such file or directory"),
    (["train", "--dataset", "xor", "--hidden", "", "--lr", "1e300", "--activation", "identity", "--loss", "quadratic",
      "--output-activation", "identity", "--epochs", "3", "--verbose", "0"], 4,
     "diverged in epoch 1, batch 2 of 10: the cost became inf. The weights were restored to the last finite ones "
     "(from before that batch). Try a smaller --lr (it was 1e+300)."),
    (["train", "--resume", "--verbose", "0", "--dataset", "xor"], 2, "--resume without a path needs --checkpoint-dir"),
])
def test_errors_and_exit_codes(capsys, tmp_path, monkeypatch, argv, code, message):
    monkeypatch.chdir(tmp_path)
    got, out, err = run(capsys, *argv)
    assert got == code and message in err and err.startswith(("deltaprop ", "usage: deltaprop"))
    assert "callbacks=" not in err and "_argument" not in err and "Traceback" not in err
    if code != cli.EXIT_DIVERGED:
        assert "train: Network(" not in out        # no plan is printed before an error about it


def test_usage_errors_exit_2_and_help_has_examples(capsys):
    assert cli.main(["train", "--optimizer", "rmsprop"]) == 2
    assert cli.main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "deltaprop train --checkpoint-dir ck --resume" in out
    assert cli.EXIT_CODES in out
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


# -- defaults a user expects ----------------------------------------------------------------

@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory):
    from sklearn.datasets import load_iris
    data = load_iris()
    names = ["setosa", "versicolor", "virginica"]
    path = tmp_path_factory.mktemp("iris") / "iris.csv"
    lines = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    lines += [",".join(map(str, x)) + "," + names[t] for x, t in zip(data.data, data.target)]   # sorted by class
    path.write_text("\n".join(lines) + "\n")
    return path


def _test_accuracy(out):
    return float(out.split("test (")[1].split("accuracy ")[1].split()[0])


@pytest.mark.parametrize("dataset, at_least", [("moons", 0.95), ("spirals", 0.9), ("circles", 0.95)])
def test_train_out_of_the_box_is_a_modern_classifier(capsys, dataset, at_least):
    code, out, _ = run(capsys, "train", "--dataset", dataset, "--verbose", 0)
    assert code == 0 and "activation='relu'" in out and "activation='softmax')], loss='cross_entropy'" in out
    assert "Adam(lr=0.001" in out and "early stopping after 10" in out
    assert _test_accuracy(out) >= at_least


def test_train_a_csv_out_of_the_box(capsys, iris_csv, tmp_path):
    code, out, _ = run(capsys, "train", "--csv", iris_csv, "--test-split", 0.2, "--verbose", 0, "--save",
                       tmp_path / "iris.dpz")
    assert code == 0 and _test_accuracy(out) >= 0.9      # a stratified split of a file sorted by class


def test_book_is_one_option_away(capsys):
    code, out, _ = run(capsys, "train", "--dataset", "moons", "--book", "--epochs", 2, "--verbose", 0)
    assert code == 0 and "Dense(30, 2, activation='sigmoid')], loss='quadratic'" in out
    assert "SGD(lr=3.0" in out and "batches of 10" in out and "early stopping" not in out


def test_mnist_validates_on_training_images_and_tests_once_at_the_end(capsys, tmp_path):
    model = tmp_path / "m.dpz"
    code, out, _ = run(capsys, "train", "--dataset", "mnist", "--train-size", 1000, "--epochs", 1, "--verbose", 2,
                       "--early-stopping", "off", "--save", model)
    assert code == 0 and "1000 training samples, 10000 for validation, 10000 for the test at the end" in out
    (X, y), (X_test, y_test) = dp.datasets.mnist()
    net = dp.load(model)
    val_loss = float(out.split("val_loss ")[1].split()[0])
    assert val_loss == pytest.approx(net.evaluate(X[50_000:], y[50_000:])["loss"], abs=5e-5)   # printed to 4 places
    test = net.evaluate(X_test, y_test)
    assert out.count("test (10000 samples)") == 1 and f"accuracy {test['accuracy']:.4f}" in out.split("test (")[1]


# -- resume ---------------------------------------------------------------------------------

def _train_args(ck, *extra):
    return ["train", "--dataset", "blobs", "--samples", 200, "--hidden", 8, "--epochs", 3, "--batch-size", 16,
            "--early-stopping", "off", "--verbose", 0, "--checkpoint-dir", ck, *extra]


def test_a_refused_resume_writes_nothing_into_the_checkpoint_folder(capsys, tmp_path):
    ck = tmp_path / "ck"
    assert run(capsys, *_train_args(ck))[0] == 0
    before = {p.name: p.read_bytes() for p in ck.iterdir()}
    for bad in (["--hidden", 10], ["--epochs", 2], ["--batch-size", 4]):
        code, out, err = run(capsys, "train", "--checkpoint-dir", ck, "--resume", "--verbose", 0, *bad)
        assert code == 2 and "Cannot resume" in err or "does not match" in err or "asks for fewer" in err, err
        assert "train: Network(" not in out
        assert {p.name: p.read_bytes() for p in ck.iterdir()} == before
    code, out, _ = run(capsys, "train", "--checkpoint-dir", ck, "--resume", "--epochs", 4, "--verbose", 0)
    assert code == 0 and "resuming from" in out


def test_resume_with_a_new_lr_uses_it_and_says_so(capsys, tmp_path):
    ck, model = tmp_path / "ck", tmp_path / "r.dpz"
    assert run(capsys, *_train_args(ck))[0] == 0
    code, out, err = run(capsys, "train", "--checkpoint-dir", ck, "--resume", "--epochs", 5, "--lr", 0.5,
                         "--save", model)
    assert code == 0 and "Adam(lr=0.5" in out
    assert "deltaprop train: warning: resume: training continues from epoch 4 with --lr 0.5; the run in" in err
    assert "used 0.001." in err and ".py:" not in err
    # the same as a run that switched to lr 0.5 after epoch 3
    X, y = dp.data.blobs(200, seed=0)
    X, X_test, y, y_test = dp.data.train_test_split(X, y, test_size=0.2, seed=0, stratify=True)
    X, X_val, y, y_val = dp.data.train_test_split(X, y, test_size=0.2, seed=0, stratify=True)

    class Switch(dp.callbacks.Callback):
        def on_epoch_begin(self, state):
            if state.epoch == 4:
                state.optimizer.lr = 0.5

    ref = dp.Network([2, 8, 3], activation="relu", loss="cross_entropy", seed=0)
    ref.fit(X, y, epochs=5, batch_size=16, optimizer=dp.Adam(lr=1e-3), validation_data=(X_val, y_val), seed=0,
            verbose=0, callbacks=[Switch()])
    for a, b in zip(ref.get_weights(), dp.load(model).get_weights()):
        np.testing.assert_array_equal(a, b)


# -- predict and evaluate match columns by name ---------------------------------------------

@pytest.fixture(scope="module")
def iris_model(tmp_path_factory, iris_csv):
    model = tmp_path_factory.mktemp("m") / "iris.dpz"
    assert cli.main(["train", "--csv", str(iris_csv), "--standardize", "--epochs", "30", "--verbose", "0",
                     "--save", str(model)]) == 0
    return model


def test_predict_matches_columns_by_name_and_by_position_without_a_header(capsys, tmp_path, iris_model):
    rows = [[5.1, 3.5, 1.4, 0.2], [6.2, 3.0, 5.4, 2.3]]
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    ordered, swapped, plain = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    ordered.write_text(",".join(names) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    swapped.write_text(",".join(names[::-1]) + "\n" + "\n".join(",".join(map(str, r[::-1])) for r in rows) + "\n")
    plain.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    outputs = []
    for path in (ordered, swapped, plain):
        code, out, _ = run(capsys, "predict", iris_model, path, "--proba")
        assert code == 0
        outputs.append(out)
    assert outputs[0] == outputs[1] == outputs[2]
    with_target = tmp_path / "d.csv"
    with_target.write_text("species," + ",".join(names) + "\nsetosa," + ",".join(map(str, rows[0])) + "\n")
    code, out, _ = run(capsys, "predict", iris_model, with_target)
    assert code == 0 and out.splitlines()[1] == outputs[0].splitlines()[1].split(",")[0]


@pytest.mark.parametrize("header, message", [
    ("sepal_length,sepal_width,petal_length,petal_wdth",
     "it lacks 'petal_width'; it has 'petal_wdth', which the model does not know"),
    ("sepal_length,sepal_width,petal_length", "it lacks 'petal_width'"),
    ("sepal_length,sepal_width,petal_length,petal_width,colour", "it has 'colour', which the model does not know"),
])
def test_predict_refuses_columns_that_do_not_match_naming_them(capsys, tmp_path, iris_model, header, message):
    path = tmp_path / "x.csv"
    path.write_text(header + "\n" + ",".join(["1.0"] * len(header.split(","))) + "\n")
    code, _, err = run(capsys, "predict", iris_model, path)
    assert code == 2 and message in err and "The model's features: 'sepal_length'" in err
    assert "Standardizer" not in err


def test_evaluate_finds_the_target_by_the_name_the_model_keeps(capsys, tmp_path, iris_csv, iris_model):
    code, out, _ = run(capsys, "evaluate", iris_model, "--csv", iris_csv, "--json")
    reordered = tmp_path / "r.csv"
    lines = iris_csv.read_text().splitlines()
    reordered.write_text("\n".join(",".join([*line.split(",")[::-1]]) for line in lines) + "\n")
    code2, out2, _ = run(capsys, "evaluate", iris_model, "--csv", reordered, "--json")
    assert code == code2 == 0 and json.loads(out) == json.loads(out2) and json.loads(out)["samples"] == 150
    headerless = tmp_path / "h.csv"
    headerless.write_text("\n".join(lines[1:]) + "\n")
    code3, out3, _ = run(capsys, "evaluate", iris_model, "--csv", headerless, "--json")
    assert code3 == 0 and json.loads(out3) == json.loads(out)


@pytest.mark.parametrize("cli_meta, message", [
    ([1, 2], r"metadata\['cli'\] is a list"),
    ({"classes": ["a", "b"]}, r"\['classes'\] names 2 classes, but the network has 3 output"),
    ({"classes": "abc"}, r"\['classes'\] must be a list of class names"),
    ({"feature_names": ["x"]}, r"\['feature_names'\] names 1 features, but the network takes 4"),
    ({"standardize": {"mean": [0.0], "scale": [1.0]}}, r"\['standardize'\] scales 1 features"),
    ({"target": 3}, r"\['target'\] must be a text"),
])
@pytest.mark.parametrize("command", ["predict", "evaluate", "info"])
def test_metadata_that_deltaprop_train_did_not_write_is_a_clear_error(capsys, tmp_path, iris_csv, cli_meta,
                                                                      message, command):
    model = tmp_path / "bad.dpz"
    dp.Network([4, 5, 3], loss="cross_entropy", seed=0).save(model, metadata={"cli": cli_meta})
    argv = {"predict": ["predict", model, iris_csv], "evaluate": ["evaluate", model, "--csv", iris_csv],
            "info": ["info", model]}[command]
    code, _, err = run(capsys, *argv)
    assert code == 3 and re.search(message, err) and "Traceback" not in err


# -- exit codes: the same in every command --------------------------------------------------

@pytest.mark.parametrize("command", ["train", "predict", "evaluate"])
def test_a_bad_csv_value_is_bad_input_and_a_missing_file_is_a_file_error(capsys, tmp_path, iris_model, command):
    bad = tmp_path / "bad.csv"
    bad.write_text("sepal_length,sepal_width,petal_length,petal_width,species\n1,2,oops,4,setosa\n")
    argv = {"train": ["train", "--csv", bad, "--verbose", 0], "predict": ["predict", iris_model, bad],
            "evaluate": ["evaluate", iris_model, "--csv", bad]}[command]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "line 2, column 3 ('petal_length'): 'oops' is not a number" in err
    missing = [a if a != bad else tmp_path / "nowhere.csv" for a in argv]
    code, _, err = run(capsys, *missing)
    assert code == 3 and "No such file or directory" in err
    damaged = tmp_path / "damaged.dpz"
    damaged.write_bytes(iris_model.read_bytes()[:300])
    if command != "train":
        code, _, err = run(capsys, *[a if a != iris_model else damaged for a in argv])
        assert code == 3 and "truncated" in err


def test_exit_codes_are_listed_in_help(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert cli.EXIT_CODES in out
    commands = ("train", "evaluate", "predict", "gradcheck", "info", "explain", "why", "demo", "export", "playground")
    assert set(commands) == set(cli.build_parser()._subparsers._group_actions[0].choices)   # every command
    for command in commands:
        assert cli.main([command, "--help"]) == 0
        assert "exit codes (every command):" in capsys.readouterr().out


def test_warnings_speak_the_command_line(capsys):
    code, _, err = run(capsys, "train", "--dataset", "xor", "--samples", 40, "--batch-size", 1000, "--epochs", 1,
                       "--verbose", 0)
    assert code == 0 and "deltaprop train: warning: --batch-size 1000 is larger than the 25 training samples" in err
    assert ".py:" not in err and "batch_size=" not in err


# -- Ctrl-C keeps the work --------------------------------------------------------------------

@pytest.mark.parametrize("save", [True, False])
def test_ctrl_c_without_a_checkpoint_folder_keeps_the_work_or_says_how(tmp_path, save):
    model = tmp_path / "m.dpz"
    argv = [sys.executable, "-m", "deltaprop", "train", "--dataset", "spirals", "--samples", "4000", "--epochs", "500",
            "--early-stopping", "off", "--batch-size", "4", "--verbose", "2"] + (["--save", str(model)] if save else [])
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    line = ""
    while "epoch   2/500" not in line and time.time() < deadline:
        line = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "training interrupted in epoch" in err or "training interrupted after epoch" in err
    if save:
        assert f"saved the network trained so far to {model}" in err
        assert dp.load(model).sizes == [2, 64, 64, 2]
    else:
        assert "not saved: pass --save FILE to keep the network of an interrupted run" in err and not model.exists()


# -- explain a row of a data set ------------------------------------------------------------

def test_explain_a_row_of_a_data_set_or_a_csv(capsys, tmp_path, iris_csv, iris_model):
    code, out, _ = run(capsys, "explain", "--dataset", "mnist", "--index", 7)
    assert code == 0 and "784-30-10" in out and "δ^3 = ∇_a C ⊙ σ'(z^3)" in out
    (X, y), _ = dp.datasets.mnist()
    net = dp.Network([784, 30, 10], activation="sigmoid", loss="quadratic", seed=0)
    trace = dp.explain(net, X[7:8], y[7:8], optimizer=dp.SGD(lr=0.1))
    assert f"{trace.steps[0].cost:.9f}" in out
    code, out, _ = run(capsys, "explain", "--csv", iris_csv, "--index", 0, "--model", iris_model, "--level", "matrix")
    assert code == 0 and "4-64-64-3" in out
    code, out2, _ = run(capsys, "explain", "--model", iris_model, "--input", "5.1,3.5,1.4,0.2", "--target", "setosa",
                        "--level", "matrix")
    assert code == 0
    code, _, err = run(capsys, "explain", "--dataset", "mnist", "--index", 60_000)
    assert code == 2 and "--index 60000 is out of range: the data has 60000 rows" in err


def test_mnist_out_of_the_box(capsys):
    code, out, _ = run(capsys, "train", "--dataset", "mnist", "--verbose", 0)
    assert code == 0 and _test_accuracy(out) >= 0.97


def test_predict_refuses_a_fifo_instead_of_hanging(capsys, tmp_path, iris_model):
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    previous = signal.signal(signal.SIGALRM, lambda *a: pytest.fail("predict blocked on a FIFO"))
    signal.alarm(10)
    try:
        code, _, err = run(capsys, "predict", iris_model, fifo)
        assert code == 3 and "it is a FIFO (named pipe), not a regular file" in err
        code, _, err = run(capsys, "predict", fifo, iris_model)
        assert code == 3 and "FIFO" in err
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_class_weight_balanced_weighs_each_class_by_its_rarity(capsys, tmp_path):
    rng = np.random.default_rng(0)
    rows = ["x1,x2,label"] + [f"{a:.3f},{b:.3f},{'rare' if a > 1.2 else 'common'}"
                              for a, b in rng.normal(size=(200, 2))]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    base = ["train", "--csv", tmp_path / "d.csv", "--epochs", "2", "--verbose", "0", "--validation-split", "0",
            "--seed", "1"]
    code, out, err = run(capsys, *base, "--class-weight", "balanced", "--save", tmp_path / "m.dpz")
    assert code == 0, err
    labels = [r.rsplit(",", 1)[1] for r in rows[1:]]
    n, rare = len(labels), labels.count("rare")
    line = next(x for x in out.splitlines() if "class weights" in x)
    assert f"common {n / (2 * (n - rare)):.4g}" in line and f"rare {n / (2 * rare):.4g}" in line
    code, out, err = run(capsys, *base, "--class-weight", "rare=5")
    assert code == 0 and "common 1, rare 5" in out
    for bad, says in [("rare=-1", "a weight must be a number >= 0"), ("dog=2", "names class 'dog'"),
                      ("heavy", "takes 'balanced' or CLASS=WEIGHT"), ("common=0,rare=0", "every class")]:
        code, out, err = run(capsys, *base, "--class-weight", bad)
        assert code == 2 and says in err, (bad, err)
    (tmp_path / "r.csv").write_text("a,b\n" + "".join(f"{i},{i / 3:.3f}\n" for i in range(30)))
    code, out, err = run(capsys, "train", "--csv", tmp_path / "r.csv", "--task", "regression",
                         "--epochs", "1", "--verbose", "0", "--class-weight", "balanced")
    assert code == 2 and "numeric" in err


def test_a_numeric_csv_target_trains_a_regression_with_held_out_rows(capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (120, 2))
    rows = ["a,b,target"] + [f"{a:.4f},{b:.4f},{a * a + b:.4f}" for a, b in X]
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n")
    code, out, err = run(capsys, "train", "--csv", tmp_path / "r.csv", "--task", "regression", "--test-split", "0.2",
                         "--epochs", "30", "--verbose", "0", "--hidden", "16", "--activation", "tanh", "--lr", "0.01")
    assert code == 0, err
    assert "val_loss" in out and "test (24 samples): loss" in out and "accuracy" not in out
