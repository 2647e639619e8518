"""``deltaprop playground`` as a person uses it: the real server, the page in headless Chromium.

The server (uvicorn, in a thread, on a free port of 127.0.0.1) is the one ``deltaprop
playground`` starts; the test keeps a hand on its sessions (``app.state.sessions.live``)
to check what the page shows against what the server holds, and against deltaprop
computed here, independently:

1. a 2-4-1 network on XOR trains (Play until 200 steps): the loss shown falls and the
   decision regions change; clicking a neuron (and an edge) shows "why" with the very
   numbers ``dp.explain`` gives for the step the server took (every column);
2. a CSV (150 rows, 4 features, 3 named classes) uploads and trains, its confusion matrix
   shows; a bad CSV's loader message shows on the page;
3. the model downloads and ``dp.load`` reads the server's weights; it uploads into another
   tab; a file that is no model is refused with a message;
4. the link keeps the setup: a new tab opened with it has the same data, network, seed and
   hyperparameters (the same initial weights);
5. 2-8-8-2 on 500 points plays at 20 updates a second or more, the picture live;
6. two tabs train side by side, each exactly as if alone, and a closed tab's session goes.

Screenshots (1400 x 900, full page) are saved under tests/artifacts/playground/ (git
ignores it). Needs Debian's chromium (``sh .ci/ensure-chromium``), Playwright for Python
and the playground extra (both in the dev extra); nothing is downloaded.
"""

import base64
import copy
import io
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import deltaprop as dp
from deltaprop._render import fmt

ARTIFACTS = Path(__file__).parent / "artifacts" / "playground"
# As in test_explain_html: as root, without a sandbox; nothing reaches out to the network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 900}
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def server():
    """The playground's app served on a free port, and its live sessions (sid -> (Session, lock))."""
    try:
        import uvicorn

        from deltaprop.playground.app import create_app
    except ImportError as e:
        pytest.fail(f"the playground needs its extra ({e}): .venv/bin/pip install -e '.[dev]'", pytrace=False)
    app = create_app()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the playground's server did not start"
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", live=app.state.sessions.live)
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (the system's), or why there is none: each test then fails saying so."""
    chromium = shutil.which("chromium")
    if chromium is None:
        yield "no chromium: run `sh .ci/ensure-chromium` (it installs Debian's chromium), then the tests again"
        return
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        yield ("no Playwright for Python: `.venv/bin/pip install -e '.[dev]'` (or `pip install playwright`); "
               "it drives the system's chromium, so do not run `playwright install`")
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory(prefix="deltaprop-chromium-") as profile:
        context = p.chromium.launch_persistent_context(profile, executable_path=chromium, args=CHROMIUM_ARGS,
                                                       headless=True, viewport=VIEWPORT, accept_downloads=True)
        context.set_default_timeout(WAIT_MS)
        yield context
        context.close()


# -- helpers ------------------------------------------------------------------------------

class Tab:
    """One page of the playground, its session on the server, and the errors its script threw."""

    def __init__(self, browser, server, url=None):
        if isinstance(browser, str):
            pytest.fail(browser, pytrace=False)
        self.server = server
        self.page = browser.new_page()
        self.script_errors = []
        self.page.on("pageerror", lambda e: self.script_errors.append(str(e)))
        self.page.goto(url or server.url)
        self.page.wait_for_selector("body[data-sid]")
        self.sid = self.page.evaluate("document.body.dataset.sid")

    @property
    def session(self):
        return self.server.live[self.sid][0]

    def text(self, selector):
        return self.page.text_content(selector).strip()

    def number(self, selector):
        return float(self.text(selector).rstrip("%"))

    def full_states(self):
        return int(self.page.evaluate("+(document.body.dataset.fullStates || 0)"))

    def rebuilds(self, action):
        """Do ``action`` (which changes the setup) and wait until the page has drawn the new network."""
        before = self.full_states()
        action()
        self.page.wait_for_function(f"+document.body.dataset.fullStates > {before}")

    def set_number(self, selector, value):
        self.rebuilds(lambda: (self.page.fill(selector, str(value)), self.page.press(selector, "Enter")))

    def steps_shown(self):
        return int(self.text("#step-count"))

    def play_until(self, steps):
        """Play until the page shows ``steps`` steps or more, pause, and wait for the last reply."""
        self.page.click("#play")
        self.page.wait_for_function(f"+document.querySelector('#step-count').textContent >= {steps}")
        self.pause()

    def pause(self):
        self.page.click("#play")
        self.page.wait_for_function("!document.body.dataset.loop")
        assert self.steps_shown() == self.session.steps

    def decision_image(self):
        return self.page.evaluate("document.querySelector('#decision').toDataURL()")

    def cells(self, key):
        """The "why" table's printed numbers for ``key``, in column order."""
        found = self.page.eval_on_selector_all(
            f'#why td[data-key="{key}"]', "els => els.map(e => [+e.dataset.col, e.textContent])")
        return [text for _, text in sorted(found)]

    def screenshot(self, name):
        self.page.mouse.move(2, 2)               # no tooltip in the picture
        self.page.evaluate("document.activeElement && document.activeElement.blur()")
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def assert_layout(self):
        """Nothing spills sideways; no HTML box in the picture or the why panel overflows."""
        problems = self.page.evaluate("""() => {
          const out = [];
          const root = document.documentElement;
          if (root.scrollWidth > root.clientWidth + 1) out.push(`page scrolls sideways ${root.scrollWidth}`);
          const heads = [...document.querySelectorAll('.head, .node-label')].map(e => [e, e.getBoundingClientRect()]);
          for (let i = 0; i < heads.length; i++) for (let j = i + 1; j < heads.length; j++) {
            const [a, r] = heads[i], [b, q] = heads[j];
            if (r.left < q.right - 1 && q.left < r.right - 1 && r.top < q.bottom - 1 && q.top < r.bottom - 1)
              out.push(`${a.className} overlaps ${b.className}`);
          }
          const net = document.querySelector('#net').getBoundingClientRect();
          for (const n of document.querySelectorAll('.node')) {
            const r = n.getBoundingClientRect();
            if (r.left < net.left - 1 || r.right > net.right + 1 || r.bottom > net.bottom + 1)
              out.push('a neuron outside the picture');
          }
          return out;
        }""")
        assert not problems, problems

    def close(self):
        assert not self.script_errors, f"the page's script threw: {self.script_errors}"
        self.page.close()


def trace_of_last_step(session):
    """dp.explain, computed here, on the state before the server's last step, with its batch."""
    weights, opt, idx = session.before
    net = session.net.copy()
    net.set_weights(weights)
    return dp.explain(net, session.data["X"][idx], np.asarray(session.data["Y"])[idx],
                      optimizer=copy.deepcopy(opt))


def link_for(changes):
    """A playground address with ``changes`` over the default setup, as the page writes it."""
    from deltaprop.playground.session import DEFAULT_CONFIG
    config = copy.deepcopy(DEFAULT_CONFIG)
    for section, values in changes.items():
        config[section].update(values)
    blob = base64.urlsafe_b64encode(json.dumps(config).encode()).decode().rstrip("=")
    return f"#setup={blob}"


def same_weights(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# -- 1. XOR, 2-4-1: training, and "why" with the numbers of dp.explain ---------------------

def test_xor_trains_and_why_shows_the_numbers_of_explain(browser, server):
    tab = Tab(browser, server)
    page = tab.page
    # before any step, "why" has nothing to explain: the server says so, on the page
    page.click('.neuron[data-layer="0"][data-neuron="0"]')
    page.wait_for_selector("#error:not([hidden])")
    assert "Train one step first" in tab.text("#error")

    tab.rebuilds(lambda: page.select_option("#loss", "binary_cross_entropy"))
    assert tab.session.net.sizes == [2, 4, 1]
    assert page.locator(".neuron").count() == 5 and page.locator(".input-node").count() == 2
    assert page.locator("path.edge").count() == 2 * 4 + 4 * 1
    assert page.is_hidden("#error")                       # a setup that worked clears the message
    loss0, image0 = tab.number("#train-loss"), tab.decision_image()
    assert loss0 == pytest.approx(tab.session.net.evaluate(tab.session.data["X"], tab.session.data["Y"])["loss"],
                                  abs=1e-4)

    tab.play_until(200)
    loss1 = tab.number("#train-loss")
    assert tab.steps_shown() >= 200
    assert loss1 < loss0, (loss0, loss1)
    assert tab.decision_image() != image0                 # the regions were redrawn
    assert 0 <= tab.number("#train-acc") <= 100 and tab.text("#test-loss") != "–"

    # a hidden neuron: its delta (each example of the batch) and dC/dw (each weight)
    session = tab.session
    trace = trace_of_last_step(session)
    page.click('.neuron[data-layer="0"][data-neuron="1"]')
    page.wait_for_selector('#why td[data-key="dW"]')
    layer = trace.steps[0].layers[0]
    assert trace.m == session.batch_size == 10
    assert tab.cells("delta") == [fmt(v, 9) for v in layer.D[1]]
    assert tab.cells("dW") == [fmt(v, 9) for v in layer.dW[1]]
    lines = page.inner_text("#why .why-lines")
    assert all(fmt(v, 9) in lines for v in [*layer.D[1], *layer.dW[1]])

    # an edge, from hidden neuron 3 to the output: the output's numbers, that weight marked
    box = page.locator("#net").bounding_box()
    x, y = page.evaluate("""() => { const p = document.querySelector('path.edge[data-layer="1"][data-from="2"]');
                                    const q = p.getPointAtLength(p.getTotalLength() / 2); return [q.x, q.y]; }""")
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector('#why td.hot[data-key="dW"][data-col="2"]')
    out = trace.steps[0].layers[1]
    assert tab.cells("delta") == [fmt(v, 9) for v in out.D[0]]
    assert tab.text('#why td.hot[data-key="dW"]') == fmt(out.dW[0][2], 9)
    page.click('.neuron[data-layer="0"][data-neuron="1"]')
    page.wait_for_function("document.querySelector('#why .why-title').textContent.includes('hidden layer')")
    assert tab.cells("dW") == [fmt(v, 9) for v in layer.dW[1]]

    # the edges drawn by weight, then by gradient: widths by |w|, then by |dC/dw|
    widths = "() => [...document.querySelectorAll('path.edge')].map(p => p.getAttribute('stroke-width'))"
    by_weight = page.evaluate(widths)
    page.click('#edge-mode label:has(input[value="dW"])')
    assert page.evaluate(widths) != by_weight and "∂C/∂w" in tab.text("#edge-scale")
    page.click('#edge-mode label:has(input[value="W"])')
    assert page.evaluate(widths) == by_weight
    tab.assert_layout()
    tab.screenshot("xor-2-4-1-why")

    # the whole step, matrix by matrix, in a dialog
    page.select_option("#why-notation", "kaist")
    page.click("#trace-btn")
    page.wait_for_selector("#trace-dialog[open]")
    srcdoc = page.evaluate("document.querySelector('#trace-frame').srcdoc")
    assert srcdoc == session.trace().render("html", level="matrix", notation="kaist")
    page.click("#trace-close")
    tab.close()


# -- 2. a CSV: more than two inputs, a confusion matrix; a bad one's message ----------------

def test_a_csv_uploads_and_trains_and_a_bad_one_says_why(browser, server, tmp_path):
    rng = np.random.default_rng(7)
    names = ["setosa", "versicolor", "virginica"]
    centres = np.array([[0, 0, 0, 0], [2.5, 1, -1, 0.5], [0, 2.5, 1.5, -1.5]])
    rows = [(centres[c] + rng.normal(0, 0.9, 4), names[c]) for c in range(3) for _ in range(50)]
    good = tmp_path / "flowers.csv"
    good.write_text("f1,f2,f3,f4,species\n" + "".join(
        ",".join(f"{v:.4f}" for v in x) + f",{name}\n" for x, name in rows), encoding="utf-8")

    tab = Tab(browser, server)
    page = tab.page
    page.select_option("#source", "csv")                  # no file yet: the page asks for one
    assert "Drop a CSV file" in tab.text("#notice") and tab.session.config["data"]["source"] == "xor"
    page.fill("#csv-target", "species")
    tab.rebuilds(lambda: page.set_input_files("#csv-file", str(good)))
    session = tab.session
    assert session.config["data"]["source"] == "csv" and session.data["classes"] == names
    assert page.input_value("#source") == "csv"
    tab.rebuilds(lambda: page.select_option("#loss", "cross_entropy"))
    session = tab.session
    assert session.net.sizes == [4, 4, 3]
    assert page.locator(".input-node").count() == 4
    assert "principal axes" in tab.text("#plot-caption")
    page.wait_for_selector("#confusion-card:not([hidden])")
    assert page.locator("#confusion td").count() == 9
    loss0, acc0 = tab.number("#train-loss"), tab.number("#train-acc")

    tab.play_until(60)
    loss1, acc1 = tab.number("#train-loss"), tab.number("#train-acc")
    assert loss1 < loss0 or acc1 > acc0, (loss0, loss1, acc0, acc1)
    shown = np.array([[int(page.text_content(f'#confusion td[data-actual="{a}"][data-predicted="{p}"]'))
                       for p in range(3)] for a in range(3)])
    assert (shown == np.array(session.state()["confusion"])).all()
    assert shown.sum() == len(session.data["X_test"])
    assert "CSV data cannot travel in a link" in tab.text("#link-note")
    tab.assert_layout()
    tab.screenshot("csv-4-features")

    # a bad CSV: the loader's own message, on the page; the good data stays
    bad = tmp_path / "bad.csv"
    bad.write_text("f1,f2,species\n1,2,setosa\n3,x,virginica\n", encoding="utf-8")
    with pytest.raises(dp.DeltapropError) as loader:
        dp.datasets.load_csv(io.StringIO(bad.read_text()), target="species")
    said = str(loader.value).split("<StringIO>, ", 1)[1]          # the file is named differently
    dropped = page.evaluate_handle("""text => { const dt = new DataTransfer();
        dt.items.add(new File([text], 'bad.csv', {type: 'text/csv'})); return dt; }""", bad.read_text())
    page.dispatch_event("#csv-drop", "drop", {"dataTransfer": dropped})        # dragged and dropped
    page.wait_for_selector("#error:not([hidden])")
    assert said in tab.text("#error"), (said, tab.text("#error"))
    assert tab.session.net.sizes == [4, 4, 3]
    tab.screenshot("csv-bad-file")
    tab.close()


# -- 3. the model: down, read by dp.load; up, into another tab; a file that is no model ----

def test_the_model_downloads_and_uploads(browser, server, tmp_path):
    tab = Tab(browser, server)
    page = tab.page
    initial = tab.session.net.get_weights()
    for n in (1, 2, 3):
        page.click("#step")
        page.wait_for_function(f"document.querySelector('#step-count').textContent === '{n}'")
    with page.expect_download() as download:
        page.click("#download-model")
    path = tmp_path / "model.dpz"
    download.value.save_as(path)
    model = dp.load(path)
    assert tab.session.steps == 3
    assert same_weights(model.get_weights(), tab.session.net.get_weights())

    with page.expect_download() as download:
        page.click("#download-trace-md")
    download.value.save_as(tmp_path / "step.md")
    assert (tmp_path / "step.md").read_text(encoding="utf-8") == \
        tab.session.trace().render("markdown", level="matrix", notation="nielsen")

    other = Tab(browser, server)
    other.rebuilds(lambda: other.page.set_input_files("#model-file", str(path)))
    assert same_weights(other.session.net.get_weights(), model.get_weights())
    assert "Loaded model.dpz" in other.text("#notice")

    # Reset: back to the network of the seed; Epoch: the batches of one epoch
    tab.rebuilds(lambda: page.click("#reset"))
    assert tab.steps_shown() == tab.session.steps == 0 and same_weights(tab.session.net.get_weights(), initial)
    page.click("#epoch-btn")
    n_batches = tab.session.trainer.state.n_batches
    page.wait_for_function(f"document.querySelector('#step-count').textContent === '{n_batches}'")
    assert tab.session.steps == n_batches == 14 and tab.text("#epoch") == "1"

    junk = tmp_path / "junk.dpz"
    junk.write_bytes(b"this is not a model")
    other.page.set_input_files("#model-file", str(junk))
    other.page.wait_for_selector("#error:not([hidden])")
    assert "the uploaded file" in other.text("#error") and str(tmp_path) not in other.text("#error")
    assert same_weights(other.session.net.get_weights(), model.get_weights())   # the loaded one stays
    other.close()
    tab.close()


# -- 4. the link keeps the setup -------------------------------------------------------------

def test_the_link_restores_the_setup(browser, server):
    tab = Tab(browser, server)
    page = tab.page
    tab.rebuilds(lambda: page.select_option("#source", "moons"))
    tab.set_number("#data-seed", 3)
    # a click on the plane adds a point there, of the class picked
    page.select_option("#point-class", "1")
    extent = tab.session.state()["grid"]["extent"]
    tab.rebuilds(lambda: page.click("#points", position={"x": 30, "y": 20}))      # near the top-left corner
    (x, y, label), = tab.session.config["data"]["points"]
    box = page.locator("#points").bounding_box()
    x0, x1, y0, y1 = extent
    assert label == 1 and abs(x - (x0 + 30 / box["width"] * (x1 - x0))) < (x1 - x0) / box["width"]
    assert abs(y - (y1 - 20 / box["height"] * (y1 - y0))) < (y1 - y0) / box["height"]
    tab.rebuilds(lambda: page.click("#layer-add"))
    tab.rebuilds(lambda: page.click('.units-plus[data-layer="0"]'))
    tab.rebuilds(lambda: page.click('.units-minus[data-layer="1"]'))
    tab.rebuilds(lambda: page.select_option('.layer-activation[data-layer="0"]', "relu"))
    tab.rebuilds(lambda: page.select_option('.layer-activation[data-layer="1"]', "relu"))
    tab.rebuilds(lambda: page.select_option("#optimizer", "adam"))
    tab.set_number("#lr", 0.01)
    assert tab.session.net.sizes == [2, 5, 3, 2]
    href = page.evaluate("location.href")
    assert "#setup=" in href and page.input_value("#link") == href

    again = Tab(browser, server, href)
    again.page.wait_for_function("+document.body.dataset.fullStates >= 2")   # its own start, then the link's
    p = again.page
    assert p.input_value("#source") == "moons" and p.input_value("#data-seed") == "3"
    assert p.eval_on_selector_all(".units", "els => els.map(e => e.textContent)") == ["5", "3"]
    assert p.eval_on_selector_all(".layer-activation", "els => els.map(e => e.value)") == ["relu", "relu"]
    assert p.input_value("#optimizer") == "adam" and float(p.input_value("#lr")) == 0.01
    c = again.session.config
    assert c["data"]["source"] == "moons" and c["data"]["seed"] == 3
    assert c["network"]["hidden"] == [{"units": 5, "activation": "relu"}, {"units": 3, "activation": "relu"}]
    assert c["training"]["optimizer"] == "adam" and c["training"]["lr"] == 0.01
    assert c["data"]["points"] == tab.session.config["data"]["points"]
    assert again.session.sid != tab.session.sid
    assert same_weights(again.session.net.get_weights(), tab.session.net.get_weights())   # the same seeds
    assert np.array_equal(again.session.data["X"], tab.session.data["X"])
    again.screenshot("link-moons-2-5-3-2")
    again.close()
    tab.close()


# -- 5. the update rate: 2-8-8-2 on 500 points ------------------------------------------------

def test_2_8_8_2_on_500_points_plays_at_20_updates_a_second(browser, server):
    tab = Tab(browser, server, server.url + link_for({
        "data": {"source": "xor", "samples": 500},
        "network": {"hidden": [{"units": 8, "activation": "tanh"}, {"units": 8, "activation": "tanh"}],
                    "loss": "cross_entropy"}}))
    page = tab.page
    page.wait_for_function("document.querySelectorAll('.neuron').length === 18")
    assert tab.session.net.sizes == [2, 8, 8, 2] and len(tab.session.data["X"]) + len(tab.session.data["X_test"]) == 500
    snap = "() => [document.querySelector('.neuron[data-layer=\"1\"][data-neuron=\"3\"]').toDataURL(), " \
           "document.querySelector('#curve-loss').toDataURL(), " \
           "[...document.querySelectorAll('path.edge')].map(p => p.getAttribute('stroke-width')).join()]"
    before = page.evaluate(snap)
    page.click("#play")
    time.sleep(1.0)                                    # warm up
    # Five seconds of play, counted on the server; a second five seconds only if the first
    # fell short (another process may have held this small machine's two cores meanwhile).
    windows = []
    for _ in range(2):
        s0, t0 = tab.session.steps, time.perf_counter()
        time.sleep(5.0)
        s1, t1 = tab.session.steps, time.perf_counter()
        windows.append(((s1 - s0) / (t1 - t0), float(tab.text("#rate"))))
        if min(windows[-1]) >= 20:
            break
    tab.screenshot("xor-2-8-8-2-playing")
    tab.pause()
    rate, shown_rate = max(windows)
    print("\nplayground, 2-8-8-2 on 500 points: " + ", ".join(
        f"{r:.1f} updates/s measured ({s:.1f} shown by the page)" for r, s in windows))
    assert rate >= 20, f"{rate:.1f} updates/s"
    assert shown_rate >= 20, f"the page shows {shown_rate} updates/s"
    after = page.evaluate(snap)
    assert all(a != b for a, b in zip(before, after)), "a heat map, the curve or an edge was not redrawn"
    tab.close()


# -- 6. two tabs at once ------------------------------------------------------------------------

def test_two_tabs_train_side_by_side_and_a_closed_one_is_freed(browser, server):
    from deltaprop.playground.session import Session
    a, b = Tab(browser, server), Tab(browser, server)
    assert a.sid != b.sid and {a.sid, b.sid} <= set(server.live)
    b.set_number("#net-seed", 5)
    a.page.click("#play")
    b.page.click("#play")
    a.page.wait_for_function("+document.querySelector('#step-count').textContent >= 30")
    a.pause()
    b.page.wait_for_function(f"+document.querySelector('#step-count').textContent >= {a.session.steps + 20}")
    b.pause()
    assert a.session.steps != b.session.steps
    assert not same_weights(a.session.net.get_weights(), b.session.net.get_weights())
    for tab in (a, b):
        # each as if it had been alone: the same setup, stepped as often here, ends on the same bits
        alone = Session("alone")
        alone.setup(copy.deepcopy(tab.session.config))
        for _ in range(tab.session.steps):
            alone.step(1)
        assert same_weights(alone.net.get_weights(), tab.session.net.get_weights())
    gone = a.sid
    a.close()
    deadline = time.monotonic() + 10
    while gone in server.live and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone not in server.live and b.sid in server.live
    # a socket that closes (the server gone, the network down) says so on the page
    b.page.evaluate("S.ws.close()")
    b.page.wait_for_selector("#error:not([hidden])")
    assert "disconnected: reload" in b.text("#error")
    b.close()
