"""What a notebook shows: the README's notebook cells, run in a real Jupyter kernel
(nbclient + ipykernel), and the reprs and LivePlot they rely on."""

import re
from pathlib import Path

import nbclient
import nbformat
import deltaprop as dp

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_cells() -> list[str]:
    """The python blocks of the README's "In a notebook" section, one cell each."""
    text = README.read_text()
    section = text.split("\n## In a notebook\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readmes_notebook_runs_in_a_kernel_and_shows_what_it_says():
    cells = readme_cells()
    assert len(cells) == 3
    probe = "print(len(history), history.engine)"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells + [probe]])
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    shown = [c.outputs for c in nb.cells]
    # 1. the network, drawn: an SVG of the 2-16-2 network and its summary table
    html = shown[0][0]["data"]["text/html"]
    assert "<svg" in html and 'aria-label="network 2-16-2"' in html and "hidden 1: 16" in html
    assert "tanh" in html and "softmax" in html and "loss: cross_entropy" in html and "82 parameters" in html
    # 2. one figure, updated in place after each epoch (not 30 figures)
    images = [o for o in shown[1] if o.output_type == "display_data"]
    assert len(images) == 1 and "image/png" in images[0]["data"]
    assert not [o for o in shown[1] if o.output_type == "error"]
    # 3. the trace: explain's HTML page, isolated in an iframe
    trace = shown[2][0]["data"]["text/html"]
    assert trace.startswith("<iframe srcdoc=") and "&lt;svg" in trace
    assert shown[3][0]["text"].split()[0] == "30"


def test_liveplot_redraws_each_epoch_in_a_kernel_and_nothing_outside_one(monkeypatch):
    X, y = dp.data.xor(80, seed=0)
    net = dp.Network([2, 4, 2], loss="cross_entropy", seed=0)
    outside = dp.callbacks.LivePlot()
    net.fit(X, y, epochs=4, verbose=0, callbacks=[outside])
    assert outside.redraws == 0                       # a script: nothing drawn, nothing displayed
    code = ("import deltaprop as dp\nX, y = dp.data.xor(80, seed=0)\n"
            "net = dp.Network([2, 4, 2], loss='cross_entropy', seed=0)\nlive = dp.callbacks.LivePlot(every=3)\n"
            "net.fit(X, y, epochs=7, verbose=0, callbacks=[live])\nprint(live.redraws)")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    out = nb.cells[0].outputs
    assert out[-1]["text"].strip() == "3"            # epochs 3 and 6, and the last one (7)
    assert sum(o.output_type == "display_data" for o in out) == 1


def test_the_network_drawing_summarises_wide_layers_and_names_the_inputs():
    net = dp.Network([784, 30, 10], seed=0)
    html = net._repr_html_()
    assert html.count("<circle") == 3 * 7 and html.count("⋮") == 3       # 8 rows a layer, one of them a gap
    assert html.count("<line") == 2 * 7 * 7 and "30 × 784" in html and "784 × 30" not in html   # W: (n_out, n_in)
    small = dp.Network([2, 3, 1], seed=0)
    small.feature_names = ["height", "weight"]
    assert "inputs height, weight" in small._repr_html_()
    assert small._repr_html_().count("<line") == 2 * 3 + 3 * 1
    trace = dp.explain(dp.examples.mazur())._repr_html_()
    assert "out<sub>o1</sub>" in trace.replace("&lt;", "<").replace("&gt;", ">")   # in Mazur's own names
