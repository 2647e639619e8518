"""The playground's server: every number it sends is the library's own, sessions are
independent, files go through the library's loaders, and nothing the page sends can name a
path. The page itself is tested in a real browser in test_playground_browser.py."""

import base64
import copy
import io
import json
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

import deltaprop as dp
from deltaprop import cli
from deltaprop._render import fmt
from deltaprop.playground import session as S
from deltaprop.playground.app import create_app
from deltaprop.playground.session import PlaygroundError, Session

XOR_241 = {"data": {"source": "xor", "samples": 120, "seed": 1},
           "network": {"hidden": [{"units": 4, "activation": "tanh"}], "loss": "binary_cross_entropy"},
           "training": {"lr": 0.5, "batch_size": 8, "seed": 2}}


def flowers_csv(rows=150) -> bytes:
    rng = np.random.default_rng(0)
    names = ["setosa", "versicolor", "virginica"]
    out = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    for i in range(rows):
        k = i % 3
        x = rng.normal([5 + k, 3 - 0.3 * k, 1.5 + 2 * k, 0.2 + k], 0.4)
        out.append(",".join(f"{v:.2f}" for v in x) + f",{names[k]}")
    return ("\n".join(out) + "\n").encode()


def explain_last_step(session: Session) -> dp.Trace:
    """An independent record of the session's last step: dp.explain on the weights and
    optimizer before it, with its batch (read from the trainer's own order)."""
    weights, opt, idx = session.before
    net = session.net.copy()
    net.set_weights(weights)
    return dp.explain(net, session.data["X"][idx], np.asarray(session.data["Y"])[idx], optimizer=copy.deepcopy(opt))


# -- the session: the library's numbers ---------------------------------------------------

def test_steps_train_the_bits_of_a_trainer_on_the_same_data():
    s = Session("a")
    s.setup(XOR_241)
    for k in (1, 5, 12):
        s.step(k)
    s.epoch()
    # the same network, data, optimizer and seed, trained by the library directly
    d = S._data.xor(120, noise=0.2, seed=1)
    X_tr, _, y_tr, _ = dp.data.train_test_split(*d, test_size=0.3, seed=1, stratify=True)
    rng = np.random.default_rng(0)
    net = dp.Network([dp.Dense(2, 4, "tanh", seed=rng), dp.Dense(4, 1, "sigmoid", seed=rng)],
                     loss="binary_cross_entropy", seed=0)
    trainer = dp.Trainer(net, X_tr, y_tr, batch_size=8, optimizer=dp.SGD(lr=0.5), seed=2, engine="numpy")
    trainer.train_batches(18)
    assert not trainer.state.epoch_done
    trainer.train_batches(trainer.state.n_batches - trainer.state.batch)     # the rest of the epoch
    for a, b in zip(s.net.get_weights(), net.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert s.steps == 18 + (s.trainer.state.n_batches - 18 % s.trainer.state.n_batches)


def test_the_state_is_the_networks_own_weights_gradients_updates_and_metrics():
    s = Session("a")
    s.setup(XOR_241)
    s.step(3)
    before = s.net.get_weights()
    state = s.step(1)
    view = state["network"]
    assert view["sizes"] == [2, 4, 1]
    for layer, shown, W0, b0 in zip(s.net.layers, view["layers"], before[::2], before[1::2]):
        np.testing.assert_array_equal(np.array(shown["W"]), layer.W)
        np.testing.assert_array_equal(np.array(shown["dW"]), layer.dW)
        np.testing.assert_array_equal(np.array(shown["db"]), layer.db)
        np.testing.assert_array_equal(np.array(shown["dW_update"]), layer.W - W0)
        np.testing.assert_array_equal(np.array(shown["db_update"]), layer.b - b0)
    assert state["metrics"]["train"] == s.net.evaluate(s.data["X"], s.data["Y"])
    assert state["metrics"]["test"] == s.net.evaluate(s.data["X_test"], s.data["Y_test"])
    assert state["step"] == 4 and state["lr"] == 0.5


def test_heat_maps_and_decision_regions_are_the_networks_forward_pass():
    s = Session("a")
    s.setup({**XOR_241, "network": {**XOR_241["network"], "hidden": [{"units": 3, "activation": "relu"}]}})
    s.step(20)
    g = s.state()["grid"]
    x0, x1, y0, y1 = g["extent"]
    # neuron j of layer 0, at cell (row r, column c): row 0 is the top (largest y)
    G = g["size"]
    r, c = 7, 31
    point = np.array([[x0 + (x1 - x0) * c / (G - 1), y1 - (y1 - y0) * r / (G - 1)]])
    A1 = np.maximum(0, s.net.layers[0].W @ point.T + s.net.layers[0].b.reshape(-1, 1))     # ReLU, by hand
    for j, m in enumerate(g["neurons"][0]):
        cells = np.frombuffer(base64.b64decode(m["data"]), dtype=np.uint8).reshape(G, G)
        lo, hi = m["min"], m["max"]
        expected = 0 if hi == lo else round((A1[j, 0] - lo) / (hi - lo) * 255)
        assert abs(int(cells[r, c]) - expected) <= 1
    D = g["decision_size"]
    labels = np.frombuffer(base64.b64decode(g["decision"]), dtype=np.uint8).reshape(D, D)
    xs, ys = np.linspace(x0, x1, D), np.linspace(y1, y0, D)
    grid = np.array([[x, y] for y in ys for x in xs])
    np.testing.assert_array_equal(labels.ravel(), s.net.predict_classes(grid))
    assert len(set(labels.ravel().tolist())) == 2          # xor after 20 steps: both classes somewhere


def test_why_equals_explain_of_the_same_state_to_every_printed_digit():
    s = Session("a")
    s.setup({**XOR_241, "training": {**XOR_241["training"], "optimizer": "momentum"}})
    s.step(7)
    trace = explain_last_step(s)
    layer = trace.steps[0].layers
    for L, j in [(0, 0), (0, 3), (1, 0)]:
        shown = s.inspect(L, j, "kaist")
        assert shown["printed"]["delta"] == [fmt(v, 9) for v in layer[L].D[j]]
        assert shown["printed"]["dW"] == [fmt(v, 9) for v in layer[L].dW[j]]
        assert shown["printed"]["db"] == fmt(layer[L].db[j], 9)
        assert shown["printed"]["W_new"] == [fmt(v, 9) for v in layer[L].W_new[j]]
        np.testing.assert_array_equal(shown["values"]["z"], layer[L].Z[j])
        # and the update explain records is the one the engine made
        np.testing.assert_array_equal(layer[L].W_new[j], s.net.layers[L].W[j])
        assert any(fmt(layer[L].dW[j, 0], 9) in line for line in shown["lines"])
    edge = s.inspect(1, 0, "mazur", edge=2)
    assert sum("∂" in line and fmt(layer[1].dW[0, 2], 9) in line for line in edge["lines"]) == 2   # dC/dw, update


def test_the_worked_example_shows_the_sources_figures():
    s = Session("a")
    state = s.setup({"data": {"source": "mazur"}})
    assert state["example"] == "mazur" and state["network"]["sizes"] == [2, 2, 2]
    s.step(1)
    o1 = s.inspect(1, 0, "mazur")
    assert o1["printed"]["delta"] == ["0.138498562"]                   # Mazur's delta_o1
    assert o1["printed"]["W_new"][0] == "0.35891648"                    # w5+ = 0.35891648
    html = s.example_trace().render("html", level="neuron", notation="mazur")
    assert "0.298371109" in html and "errat" in html.lower()            # E_total, and the errata
    s.setup({"data": {"source": "kaist"}})
    assert s.state()["network"]["sizes"] == [2, 2, 1]


@pytest.mark.parametrize("example", ["mazur", "kaist"])
def test_the_sources_figures_are_exactly_what_deltaprop_explain_prints(example, client, capsys):
    assert cli.main(["explain", example, "--format", "html"]) == 0
    printed = capsys.readouterr().out
    with client.websocket_connect("/ws") as ws:
        ws.receive_json()
        ask(ws, {"type": "setup", "config": {"data": {"source": example}}})
        shown = ask(ws, {"type": "trace", "example": True})
    assert shown["html"].strip() == printed.strip()


def test_a_point_clicked_on_the_plane_joins_the_data():
    s = Session("a")
    s.setup(XOR_241)
    n = len(s.data["X"]) + len(s.data["X_test"])
    state = s.add_point(0.5, -0.25, 1)
    assert len(s.data["X"]) + len(s.data["X_test"]) == n + 1
    rows = state["data"]["train"] + state["data"]["test"]
    assert [0.5, -0.25, 1] in rows
    with pytest.raises(PlaygroundError, match="class must be one of 0..1"):
        s.add_point(0, 0, 5)
    s.setup({"data": {"source": "mazur"}})
    with pytest.raises(PlaygroundError, match="2-D data sets only"):
        s.add_point(0, 0, 0)


@pytest.mark.parametrize("change, message", [
    ({"data": {"source": "mnist"}}, "data set must be one of"),
    ({"data": {"samples": 3}}, "number of points must be a whole number from 4"),
    ({"network": {"hidden": [{"units": 4, "activation": "swish"}]}}, "Hidden layer 1's activation must be one of"),
    ({"network": {"hidden": [{"units": 17, "activation": "relu"}]}}, "more than the limit of 16; raise the limit"),
    ({"network": {"hidden": [{"units": 2, "activation": "relu"}] * 6}}, "7 layers is more than the limit of 6"),
    ({"limits": {"units": 5000}}, "neuron limit must be a whole number from 1 to 1024"),
    ({"training": {"lr": float("nan")}}, "learning rate must be a number"),
    ({"training": {"batch_size": 2.5}}, "batch size must be a whole number"),
    ({"training": {"optimizer": "rmsprop"}}, "optimizer must be one of"),
    ({"network": {"dropout": True}}, "dropout must be a number"),
    ({"wat": {}}, "Unknown setup section 'wat'"),
])
def test_bad_choices_get_a_clear_message_and_leave_the_session_as_it_was(change, message):
    s = Session("a")
    s.setup(XOR_241)
    s.step(2)
    weights = s.net.get_weights()
    with pytest.raises(PlaygroundError, match=re.escape(message)):
        s.setup(change)
    assert s.steps == 2 and all(np.array_equal(a, b) for a, b in zip(weights, s.net.get_weights()))


def test_limits_are_the_users_to_raise():
    s = Session("a")
    state = s.setup({"limits": {"units": 64, "layers": 10},
                     "network": {"hidden": [{"units": 40, "activation": "relu"}] * 8}})
    assert state["network"]["sizes"] == [2] + [40] * 8 + [2]


def test_every_choice_the_page_offers_builds_and_trains():
    for act in S.ACTIVATIONS:
        for loss in S.LOSSES:
            s = Session("a")
            s.setup({"network": {"hidden": [{"units": 3, "activation": act}], "loss": loss}})
            s.step(2)
            assert s.net.loss_fn.name == loss
    for opt in S.OPTIMIZERS:
        for schedule in (None, "step", "exponential", "cosine"):
            s = Session("a")
            s.setup({"training": {"optimizer": opt, "schedule": schedule, "weight_decay": 0.01}})
            s.epoch()
    for init in S.INITS:
        Session("a").setup({"network": {"init": init, "dropout": 0.2, "dtype": "float32"}})
    s = Session("a")
    s.setup({"network": {"from_logits": True, "loss": "cross_entropy"}})
    assert s.net.loss_fn.from_logits and s.net.layers[-1].activation.name == "identity"


# -- the code the page hands out rebuilds the same bits --------------------------------------

def run_code(session: Session, tmp_path, monkeypatch) -> dict:
    source = session.code()
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    with io.StringIO() as out:
        old, sys.stdout = sys.stdout, out
        try:
            exec(compile(source, "playground.py", "exec"), scope)
        finally:
            sys.stdout = old
    return scope


CONFIGS = st.fixed_dictionaries({
    "data": st.fixed_dictionaries({"source": st.sampled_from(S.SYNTHETIC), "samples": st.integers(20, 120),
                                   "noise": st.sampled_from([0.0, 0.1, 0.3]), "seed": st.integers(0, 5),
                                   "classes": st.integers(2, 4)}),
    "network": st.fixed_dictionaries({
        "hidden": st.lists(st.fixed_dictionaries({"units": st.integers(1, 5),
                                                  "activation": st.sampled_from(S.ACTIVATIONS)}), max_size=3),
        "loss": st.sampled_from(S.LOSSES), "init": st.sampled_from(S.INITS), "seed": st.integers(0, 9),
        "dropout": st.sampled_from([0.0, 0.25]), "dtype": st.sampled_from(["float64", "float32"])}),
    "training": st.fixed_dictionaries({
        "optimizer": st.sampled_from(S.OPTIMIZERS), "lr": st.sampled_from([0.01, 0.1]),
        "batch_size": st.integers(1, 40), "weight_decay": st.sampled_from([0.0, 1e-3]),
        "schedule": st.sampled_from([None, "step", "cosine"]), "seed": st.integers(0, 9)}),
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=CONFIGS, steps=st.integers(1, 30))
def test_the_python_code_trains_the_same_network_to_the_same_bits(config, steps, tmp_path, monkeypatch):
    s = Session("a")
    s.setup(config)
    s.step(steps)
    scope = run_code(s, tmp_path, monkeypatch)
    net = scope["net"]
    assert net.sizes == s.net.sizes
    for a, b in zip(net.get_weights(), s.net.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_code_of_a_csv_session_and_of_clicked_points(tmp_path, monkeypatch):
    s = Session("a")
    s.load_csv_bytes(flowers_csv(), target="species")
    s.setup({"training": {"optimizer": "adam", "lr": 0.01, "schedule": "exponential"}})
    s.step(9)
    (tmp_path / "data.csv").write_bytes(flowers_csv())
    net = run_code(s, tmp_path, monkeypatch)["net"]
    assert all(np.array_equal(a, b) for a, b in zip(net.get_weights(), s.net.get_weights()))
    s = Session("b")
    s.add_point(1.0, 1.0, 0)
    s.add_point(-1.0, 0.5, 1)
    s.step(4)
    net = run_code(s, tmp_path, monkeypatch)["net"]
    assert all(np.array_equal(a, b) for a, b in zip(net.get_weights(), s.net.get_weights()))
    s = Session("c")
    s.setup({"data": {"source": "mazur"}})
    s.step(3)
    net = run_code(s, tmp_path, monkeypatch)["net"]
    assert all(np.array_equal(a, b) for a, b in zip(net.get_weights(), s.net.get_weights()))


# -- the server -------------------------------------------------------------------------------

@pytest.fixture
def app():
    return create_app(max_upload=64 * 1024)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


def ask(ws, message: dict) -> dict:
    ws.send_json(message)
    return ws.receive_json()


def test_a_tab_gets_a_session_that_answers_each_message_with_its_id(client, app):
    with client.websocket_connect("/ws") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "session" and set(hello["choices"]["optimizers"]) == set(S.OPTIMIZERS)
        sid = hello["id"]
        assert list(app.state.sessions.live) == [sid]
        state = ask(ws, {"type": "setup", "config": XOR_241, "id": 1})
        assert state["id"] == 1 and state["network"]["sizes"] == [2, 4, 1]
        state = ask(ws, {"type": "step", "batches": 5, "id": 2})
        session = app.state.sessions.live[sid][0]
        assert state["id"] == 2 and state["step"] == 5
        np.testing.assert_array_equal(np.array(state["network"]["layers"][0]["W"]), session.net.layers[0].W)
        shown = ask(ws, {"type": "inspect", "layer": 0, "neuron": 1, "notation": "nielsen", "id": 3})
        trace = explain_last_step(session)
        assert shown["printed"]["delta"] == [fmt(v, 9) for v in trace.steps[0].layers[0].D[1]]
        html = ask(ws, {"type": "trace", "level": "matrix", "notation": "kaist"})
        assert html["type"] == "trace" and html["html"] == trace.render("html", level="matrix", notation="kaist")
        epoch = ask(ws, {"type": "epoch"})
        assert epoch["batch"] == 0 and epoch["epoch"] == 1
        assert ask(ws, {"type": "reset"})["step"] == 0
    assert app.state.sessions.live == {}            # the closed tab's session is freed


@pytest.mark.parametrize("message, says", [
    ({"type": "bogus"}, "Unknown message type 'bogus'"),
    ({"no": "type"}, 'must be an object with a "type"'),
    ({"type": "inspect", "layer": "top", "neuron": 0}, "'inspect' message is not one the server understands"),
    ({"type": "add_point", "x": 0}, "'add_point' message is not one the server understands"),
    ({"type": "inspect", "layer": 0, "neuron": 0}, "Train one step first"),
    ({"type": "inspect", "layer": 0, "neuron": 0, "notation": "greek"}, "notation must be one of"),
    ({"type": "setup", "config": {"training": {"lr": -1}}}, "learning rate must be a number from"),
    ({"type": "trace", "example": True}, "worked examples only"),
])
def test_bad_messages_get_errors_and_the_socket_stays_open(client, message, says):
    with client.websocket_connect("/ws") as ws:
        ws.receive_json()
        reply = ask(ws, message)
        assert reply["type"] == "error" and says in reply["message"]
        ws.send_text("{not json")
        assert "not JSON" in ws.receive_json()["message"]
        assert ask(ws, {"type": "step"})["step"] == 1             # still serving


def test_two_tabs_train_side_by_side_without_touching_each_other(client, app):
    with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
        sa, sb = a.receive_json()["id"], b.receive_json()["id"]
        assert sa != sb
        for _ in range(10):
            a.send_json({"type": "step", "batches": 3})
            b.send_json({"type": "step"})
        for _ in range(10):
            ra, rb = a.receive_json(), b.receive_json()
        assert ra["step"] == 30 and rb["step"] == 10
        A, B = app.state.sessions.live[sa][0], app.state.sessions.live[sb][0]
        alone = Session("c")
        alone.step(10)
        assert all(np.array_equal(x, y) for x, y in zip(B.net.get_weights(), alone.net.get_weights()))
        assert not np.array_equal(A.net.layers[0].W, B.net.layers[0].W)
    assert app.state.sessions.live == {}


def test_files_down_load_with_the_library(client, app, tmp_path):
    with client.websocket_connect("/ws") as ws:
        sid = ws.receive_json()["id"]
        ask(ws, {"type": "setup", "config": XOR_241})
        ask(ws, {"type": "step", "batches": 15})
        session = app.state.sessions.live[sid][0]
        r = client.get(f"/api/{sid}/model.dpz")
        assert r.status_code == 200 and "playground.dpz" in r.headers["content-disposition"]
        (tmp_path / "m.dpz").write_bytes(r.content)
        net = dp.load(tmp_path / "m.dpz")
        assert all(np.array_equal(x, y) for x, y in zip(net.get_weights(), session.net.get_weights()))
        trace = explain_last_step(session)
        assert json.loads(client.get(f"/api/{sid}/trace.json").text) == json.loads(trace.render("json"))
        assert client.get(f"/api/{sid}/trace.md?notation=mazur").text == trace.render("markdown", level="matrix",
                                                                                     notation="mazur")
        assert client.get(f"/api/{sid}/trace.tex").text == trace.render("latex", level="matrix")
        assert client.get(f"/api/{sid}/trace.exe").status_code == 404
        assert "notation must be one of" in client.get(f"/api/{sid}/trace.md?notation=x").json()["message"] \
            or "'notation' argument must be one of" in client.get(f"/api/{sid}/trace.md?notation=x").json()["message"]
        code = client.get(f"/api/{sid}/code.py").text
        assert "dp.Trainer(" in code and "trainer.train_batches(15)" in code
        assert client.get("/api/nosuchsession/model.dpz").status_code == 404


def test_a_csv_uploaded_trains_and_a_bad_one_gets_the_loaders_message(client, app):
    with client.websocket_connect("/ws") as ws:
        sid = ws.receive_json()["id"]
        r = client.post(f"/api/{sid}/upload/csv?target=species", content=flowers_csv())
        assert r.status_code == 200, r.text
        state = r.json()
        assert state["features"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
        assert state["classes"] == ["setosa", "versicolor", "virginica"] and "projection" in state["data"]
        assert state["network"]["sizes"][0] == 4 and state["network"]["sizes"][-1] == 3
        first = state["metrics"]["train"]["loss"]
        for _ in range(5):
            state = ask(ws, {"type": "epoch"})
        assert state["metrics"]["train"]["loss"] < first and sum(map(sum, state["confusion"])) == 45
        bad = client.post(f"/api/{sid}/upload/csv", content=b"a,b,c\n1,2,3\n4,oops,6\n7,8,9\n")
        assert bad.status_code == 400
        assert "line 3, column 2" in bad.json()["message"] and "'oops'" in bad.json()["message"]
        assert "uploaded CSV" in bad.json()["message"]
        wrong_target = client.post(f"/api/{sid}/upload/csv?target=colour", content=flowers_csv())
        assert wrong_target.status_code == 400 and "colour" in wrong_target.json()["message"]
        latin1 = client.post(f"/api/{sid}/upload/csv", content="x,y\n1,caf\xe9\n".encode("latin-1"))
        assert latin1.status_code == 400 and "not UTF-8" in latin1.json()["message"]
        # the session kept the good CSV through the bad uploads
        assert app.state.sessions.live[sid][0].data["features"][0] == "sepal_length"


def test_uploads_are_size_limited(client):
    with client.websocket_connect("/ws") as ws:
        sid = ws.receive_json()["id"]
        r = client.post(f"/api/{sid}/upload/csv", content=b"x" * (64 * 1024 + 1))
        assert r.status_code == 413 and "too big" in r.json()["message"]

        def chunks():                                   # no Content-Length: counted as it streams
            for _ in range(100):
                yield b"1,2,3\n" * 200
        r = client.post(f"/api/{sid}/upload/csv", content=chunks())
        assert r.status_code == 413


def test_a_model_file_dropped_on_the_page_goes_through_dp_load(client, app, tmp_path):
    net = dp.Network([2, 6, 2], activation="relu", output_activation="softmax", loss="cross_entropy", seed=4)
    net.save(tmp_path / "net.dpz")
    with client.websocket_connect("/ws") as ws:
        sid = ws.receive_json()["id"]
        r = client.post(f"/api/{sid}/upload/model", content=(tmp_path / "net.dpz").read_bytes())
        assert r.status_code == 200, r.text
        assert r.json()["network"]["sizes"] == [2, 6, 2]
        session = app.state.sessions.live[sid][0]
        assert all(np.array_equal(x, y) for x, y in zip(session.net.get_weights(), net.get_weights()))
        import pickle
        evil = pickle.dumps({"W": np.zeros(3)})
        r = client.post(f"/api/{sid}/upload/model", content=evil)
        assert r.status_code == 400 and "uploaded file" in r.json()["message"]
        assert "/tmp" not in r.json()["message"]                   # the server's temporary path stays private
        wide = dp.Network([5, 3, 2], seed=0)
        wide.save(tmp_path / "wide.dpz")
        r = client.post(f"/api/{sid}/upload/model", content=(tmp_path / "wide.dpz").read_bytes())
        assert r.status_code == 400 and "takes 5 inputs; this data has 2" in r.json()["message"]
        assert client.post(f"/api/{sid}/upload/script", content=b"x").status_code == 404


def test_the_page_can_name_no_file(client, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("a,b\n1,0\n2,1\n3,0\n4,1\n5,0\n6,1\n")
    with client.websocket_connect("/ws") as ws:
        sid = ws.receive_json()["id"]
        for config in ({"data": {"source": "csv", "path": str(secret)}}, {"data": {"source": str(secret)}}):
            reply = ask(ws, {"type": "setup", "config": config})
            assert reply["type"] == "error"
        r = client.post(f"/api/{sid}/upload/csv?path={secret}", content=b"")
        assert r.status_code == 400
    assert client.get("/static/../session.py").status_code == 404
    assert client.get("/static/%2e%2e/session.py").status_code == 404
    page = client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()


# -- starting it --------------------------------------------------------------------------------

def test_the_command_line_checks_its_files_and_port(tmp_path, capsys):
    assert cli.main(["playground", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    assert cli.main(["playground", "--data", str(tmp_path / "none.csv"), "--no-browser"]) == 3
    assert "none.csv" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("a,b\n1,2\nx,3\n")
    assert cli.main(["playground", "--data", str(tmp_path / "bad.csv"), "--no-browser"]) == 2
    assert "cannot start from" in capsys.readouterr().err
    (tmp_path / "junk.dpz").write_bytes(b"not a model")
    assert cli.main(["playground", "--model", str(tmp_path / "junk.dpz"), "--no-browser"]) == 3
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        assert cli.main(["playground", "--port", str(taken.getsockname()[1]), "--no-browser"]) == 2
        assert "pick another --port" in capsys.readouterr().err
    finally:
        taken.close()


def test_deltaprop_playground_serves_on_loopback_and_starts_from_the_files_given(tmp_path):
    import urllib.error
    import urllib.request
    (tmp_path / "f.csv").write_bytes(flowers_csv(60))
    proc = subprocess.Popen([sys.executable, "-m", "deltaprop", "playground", "--no-browser", "--port", "0",
                             "--data", str(tmp_path / "f.csv")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert url, line + proc.stderr.read()
        port = int(url.group(1))
        deadline = time.time() + 20
        while True:
            try:
                page = urllib.request.urlopen(url.group(0), timeout=2)
                break
            except urllib.error.URLError:
                assert time.time() < deadline
                time.sleep(0.1)
        assert page.status == 200
        # bound to loopback only
        listening = [c for c in _listening_sockets() if c[1] == port]
        assert listening and all(addr == "127.0.0.1" for addr, _ in listening)
        from websockets.sync.client import connect
        with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            hello = json.loads(ws.recv())
            assert hello["state"]["features"][0] == "sepal_length"        # the CSV from --data
    finally:
        proc.terminate()
        proc.wait(10)


def test_another_host_is_served_with_a_warning(monkeypatch, capsys):
    from deltaprop import playground
    ran = {}
    monkeypatch.setattr("uvicorn.Server.run", lambda self, sockets: ran.update(sock=sockets[0].getsockname()))
    playground.serve(host="0.0.0.0", port=0, open_browser=False)
    err = capsys.readouterr().err
    assert "anyone who can reach this machine" in err and ran["sock"][0] == "0.0.0.0"
    playground.serve(port=0, open_browser=False)
    assert "anyone" not in capsys.readouterr().err and ran["sock"][0] == "127.0.0.1"
    with pytest.raises(dp.errors.ValidationError, match="'port' argument"):
        playground.serve(port=-1, open_browser=False)


def _listening_sockets():
    """(address, port) of each listening IPv4 TCP socket, from /proc/net/tcp."""
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == "0A":                          # LISTEN
                hexaddr, hexport = fields[1].split(":")
                addr = ".".join(str(int(hexaddr[i:i + 2], 16)) for i in (6, 4, 2, 0))
                out.append((addr, int(hexport, 16)))
    return out


def test_the_page_ships_in_the_wheel(tmp_path):
    """pip install ".[playground]" must bring the static page along (setuptools leaves
    files that are not Python out of a wheel unless told)."""
    import zipfile
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(root)],
                   check=True, capture_output=True, timeout=300)
    wheel, = tmp_path.glob("deltaprop-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    static = root / "src" / "deltaprop" / "playground" / "static"
    shipped = {f"deltaprop/playground/static/{p.relative_to(static).as_posix()}" for p in static.rglob("*")
               if p.is_file()}
    assert "deltaprop/playground/static/index.html" in shipped and shipped <= names
    assert "deltaprop/py.typed" in names                  # PEP 561: type checkers read the annotations
    assert "deltaprop/distributed.py" in names
