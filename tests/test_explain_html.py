"""The HTML page of ``deltaprop explain``, as a reader sees it: laid out by headless Chromium.

A page can be well formed and still read wrong: a matrix drawn with bars reads as a
determinant, a formula broken over two lines or a number spilling out of its circle is
hard to follow. So each page is loaded in a real browser and measured from inside:

(a) nothing overflows: the page does not scroll sideways, no HTML box overflows (only a
    formula may scroll sideways, and only where it is wider than the page); in the
    network drawing each node's text lies inside its circle, and every other label (the
    edges' weights, the title, the ⋮ of a cut layer) meets no circle, no line and no other
    label, inside the drawing;
(b) every formula is on one line: all its pieces share one horizontal band;
(c) matrices have brackets: full-height [ and ] (CSS borders), no vertical bars;
(d) sub- and superscripts in the drawing are smaller, shifted <tspan>s: no raw ^ or _.

A screenshot of each page is saved under tests/artifacts/explain-html/ (git ignores it).
It needs Debian's chromium (``sh .ci/ensure-chromium``) and Playwright for Python (the
dev extra), which drives the system's browser: no browser is downloaded.
"""

import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp

ARTIFACTS = Path(__file__).parent / "artifacts" / "explain-html"
# As root, without a sandbox; nothing reaches out to the network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 900}


def _mnist(notation):
    net = dp.Network([784, 30, 10], seed=0)
    x = np.random.default_rng(0).random((1, 784))
    return dp.explain(net, x, np.eye(10)[[3]]).render("html", level="matrix", notation=notation)


def _batch():
    net = dp.Network([2, 2, 2], seed=1)
    x = np.random.default_rng(1).random((3, 2))
    return dp.explain(net, x, np.eye(2)[[0, 1, 0]]).render("html", level="matrix")


def _wide():
    # 16 edges between layers of four: too many to label clear of each other, so none are
    net = dp.Network([4, 4, 4, 2], activation="tanh", seed=2)
    return dp.explain(net, [[0.5, -1.0, 2.0, 0.25]], [[0.0, 1.0]]).render("html", level="neuron", notation="kaist")


def _deep():
    # two hidden layers (Mazur's h1_1 ... h2_3), 12 edges between layers
    net = dp.Network([3, 4, 3, 2], activation="relu", output_activation="softmax", loss="cross_entropy", seed=3)
    return dp.explain(net, [[0.5, -1.0, 2.0]], [1]).render("html", level="neuron", notation="mazur")


# name -> (page, whether every formula fits the page without scrolling, matrices expected)
PAGES = {
    "mazur-neuron": (lambda: dp.explain(dp.examples.mazur()).render("html", level="neuron", notation="mazur"),
                     True, False),
    "mazur-matrix": (lambda: dp.explain(dp.examples.mazur()).render("html", level="matrix", notation="mazur"),
                     True, True),
    "kaist-neuron": (lambda: dp.explain(dp.examples.kaist()).render("html", level="neuron", notation="kaist"),
                     True, False),
    "mazur-neuron-nielsen": (lambda: dp.explain(dp.examples.mazur()).render("html", level="neuron"), True, False),
    "batch-2-2-2": (_batch, False, True),            # 2 x 3 matrices of nine decimals: wider than the page
    "wide-4-4-4-2": (_wide, False, False),
    "deep-3-4-3-2": (_deep, False, False),
    "mnist-nielsen": (lambda: _mnist("nielsen"), False, True),
    "mnist-kaist": (lambda: _mnist("kaist"), False, True),
    "mnist-mazur": (lambda: _mnist("mazur"), False, True),
}

# Runs in the page; returns what is wrong: [what, where] for each problem.
LAYOUT_PROBLEMS = r"""
([fits, matrices]) => {
  const problems = [];
  const say = (what, el) => problems.push([what, (el.outerHTML || '').replace(/\s+/g, ' ').slice(0, 160)]);
  const px = v => parseFloat(v) || 0;

  // (a) HTML: the page does not scroll sideways, and no box overflows; a formula may scroll
  // (sideways, by its own scroll bar) where it is wider than the page, nothing else may.
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1)
    say(`the page scrolls sideways (${root.scrollWidth} > ${root.clientWidth})`, root);
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('svg') || el.clientWidth === 0) continue;
    const over = el.scrollWidth > el.clientWidth + 1, overflowX = getComputedStyle(el).overflowX;
    const scrolls = overflowX === 'auto' || overflowX === 'scroll';
    if (el.classList.contains('formula')) {
      if (over && (fits || !scrolls))
        say(`a formula ${scrolls ? 'scrolls' : 'overflows'} (${el.scrollWidth} > ${el.clientWidth})`, el);
      if (el.scrollHeight > el.clientHeight + 1) say('a formula scrolls up and down', el);
    } else if (over && !(el.classList.contains('drawing') && scrolls)) {
      say(`overflows its box (${el.scrollWidth} > ${el.clientWidth})`, el);
    }
  }

  // (b) each equation is one formula on one line: its text on the baseline and its boxes
  // (matrices, fractions) all cross one horizontal band; a wrapped formula has two pieces one
  // above the other. (Sub- and superscripts ride on their base, so they are not measured.)
  const eqs = document.querySelectorAll('.eq');
  if (!eqs.length) say('no equation (.eq) on the page', document.body);
  for (const eq of eqs) {
    const formulas = eq.querySelectorAll('.formula');
    if (formulas.length !== 1) say(`an equation with ${formulas.length} formulas (.formula)`, eq);
    const rects = [];
    const walk = node => {
      for (const child of node.childNodes) {
        if (child.nodeType === Node.TEXT_NODE && child.textContent.trim()) {
          const range = document.createRange();
          range.selectNodeContents(child);
          rects.push(...range.getClientRects());
        } else if (child.nodeType === Node.ELEMENT_NODE) {
          const s = getComputedStyle(child);
          if (s.display !== 'inline') rects.push(child.getBoundingClientRect());
          else if (s.verticalAlign === 'baseline') walk(child);
        }
      }
    };
    const formula = formulas[0] || eq;     // without one, the whole equation is measured
    walk(formula);
    const top = Math.max(...rects.map(r => r.top)), bottom = Math.min(...rects.map(r => r.bottom));
    if (!(top < bottom)) say('a formula on more than one line', formula);
  }

  // (c) matrices: [ and ] of full height (a box's left, top and bottom borders, and its
  // mirror), and no vertical bars (which read as a determinant).
  const mats = document.querySelectorAll('.mat');
  if (matrices && !mats.length) say('no matrix (.mat) on the page', document.body);
  for (const m of mats) {
    const height = m.getBoundingClientRect().height;
    for (const [pseudo, open, shut] of [['::before', 'Left', 'Right'], ['::after', 'Right', 'Left']]) {
      const s = getComputedStyle(m, pseudo);
      const full = px(s.height) + (s.boxSizing === 'border-box' ? 0 : px(s.borderTopWidth) + px(s.borderBottomWidth));
      if (s.content === 'none' || !(px(s[`border${open}Width`]) > 0 && px(s.borderTopWidth) > 0 &&
          px(s.borderBottomWidth) > 0 && px(s[`border${shut}Width`]) === 0 && full >= height - 1))
        say(`a matrix without a full-height ${pseudo === '::before' ? '[' : ']'}`, m);
    }
    for (const el of [m, ...m.querySelectorAll('*')]) {
      const s = getComputedStyle(el);
      if (px(s.borderLeftWidth) > 0 || px(s.borderRightWidth) > 0) { say('a vertical bar in a matrix', el); break; }
    }
  }

  // (d) and (a) in the drawing: scripts are tspans, the node's text inside its circle,
  // every other label clear of circles, lines and each other. A label may be turned (to run
  // along its edge), so each is the polygon of its box's corners, and two meet unless an axis
  // of one separates them (the separating axis theorem); a line is clipped to the box in the
  // label's own frame (Liang-Barsky).
  const axes = poly => poly.map(([x, y], i) => { const [u, v] = poly[(i + 1) % poly.length]; return [v - y, x - u]; });
  const apart = (P, Q, m) => [...axes(P), ...axes(Q)].some(([ax, ay]) => {
    const n = Math.hypot(ax, ay);
    if (!n) return false;
    const p = P.map(([x, y]) => (x * ax + y * ay) / n), q = Q.map(([x, y]) => (x * ax + y * ay) / n);
    return Math.min(Math.max(...p), Math.max(...q)) - Math.max(Math.min(...p), Math.min(...q)) <= m;
  });
  const toSegment = ([x, y], [x1, y1], [x2, y2]) => {
    const dx = x2 - x1, dy = y2 - y1;
    const t = Math.max(0, Math.min(1, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy)));
    return Math.hypot(x - x1 - t * dx, y - y1 - t * dy);
  };
  const crosses = (b, [x1, y1], [x2, y2]) => {     // does the segment enter the box, by more than 0.5 px?
    let t0 = 0, t1 = 1;
    const dx = x2 - x1, dy = y2 - y1, m = 0.5;
    for (const [p, q] of [[-dx, x1 - b.x - m], [dx, b.x + b.width - m - x1],
                          [-dy, y1 - b.y - m], [dy, b.y + b.height - m - y1]]) {
      if (p === 0) { if (q < 0) return false; continue; }
      const t = q / p;
      if (p < 0) t0 = Math.max(t0, t); else t1 = Math.min(t1, t);
      if (t0 > t1) return false;
    }
    return true;
  };
  const onCircle = (P, c) => !apart(P, [[c.x, c.y], [c.x, c.y]], 0) ||
    P.some((p, i) => toSegment([c.x, c.y], p, P[(i + 1) % P.length]) < c.r - 0.5);
  for (const svg of document.querySelectorAll('svg')) {
    const circles = [...svg.querySelectorAll('circle')].map(c => ({
      x: c.cx.baseVal.value, y: c.cy.baseVal.value, r: c.r.baseVal.value}));
    const lines = [...svg.querySelectorAll('line')].map(l => [
      [l.x1.baseVal.value, l.y1.baseVal.value], [l.x2.baseVal.value, l.y2.baseVal.value]]);
    const width = svg.viewBox.baseVal.width, height = svg.viewBox.baseVal.height;
    const labels = [];
    for (const text of svg.querySelectorAll('text')) {
      if (/[\^_]/.test(text.textContent)) say('a raw ^ or _ in the drawing', text);
      const b = text.getBBox(), m = text.getCTM(), inv = m.inverse();   // the box; its turn into the drawing
      const local = ([x, y]) => [inv.a * x + inv.c * y + inv.e, inv.b * x + inv.d * y + inv.f];
      const P = [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]]
        .map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
      if (P.some(([x, y]) => x < -0.5 || y < -0.5 || x > width + 0.5 || y > height + 0.5))
        say('a label outside its drawing', text);
      const centre = [P.reduce((s, p) => s + p[0], 0) / 4, P.reduce((s, p) => s + p[1], 0) / 4];
      const home = circles.find(c => Math.hypot(centre[0] - c.x, centre[1] - c.y) < c.r);
      if (home) {
        if (P.some(([x, y]) => Math.hypot(x - home.x, y - home.y) > home.r + 0.5))
          say(`text overflows its circle (r = ${home.r})`, text);
      } else {
        if (circles.some(c => onCircle(P, c))) say('a label on a circle', text);
        if (lines.some(([p, q]) => crosses(b, local(p), local(q)))) say('a label on a line', text);
        for (const other of labels)
          if (!apart(P, other.P, 0.5)) say(`a label on another (${other.text.textContent})`, text);
        labels.push({P, text});
      }
    }
    for (const t of svg.querySelectorAll('tspan.sub, tspan.sup')) {
      const s = getComputedStyle(t), parent = getComputedStyle(t.parentNode);
      if (!(t.getAttribute('baseline-shift') || t.getAttribute('dy')) || !(px(s.fontSize) < px(parent.fontSize)))
        say('a script that is not smaller and shifted', t);
    }
    const nodes = svg.querySelectorAll('g.node');
    if (!nodes.length) say('no node (g.node) in the drawing', svg);
    for (const g of nodes)
      if (!g.querySelector('tspan.sub, tspan.sup')) say('a node whose symbols are not typeset', g);
  }
  return problems;
}
"""


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, or why there is none (each test then fails saying so: a check that
    cannot run must not pass as skipped)."""
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
        # a fresh profile each run (Playwright passes it as --user-data-dir)
        context = p.chromium.launch_persistent_context(profile, executable_path=chromium, args=CHROMIUM_ARGS,
                                                       headless=True, viewport=VIEWPORT)
        yield context
        context.close()


def _load(browser, name, html, viewport=VIEWPORT):
    """The page, laid out at the viewport's size; its screenshot and HTML saved to ARTIFACTS."""
    if isinstance(browser, str):
        pytest.fail(browser, pytrace=False)
    page = browser.new_page()
    page.set_viewport_size(viewport)
    page.set_content(html, wait_until="load")
    (ARTIFACTS / f"{name}.html").write_text(html, encoding="utf-8")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    return page


def _check(page, fits, matrices):
    problems = page.evaluate(LAYOUT_PROBLEMS, [fits, matrices])
    page.close()
    kinds = {}
    for what, where in problems:                          # each kind of problem once, with its first place
        kinds.setdefault(re.sub(r"\(.*\)", "(...)", what), []).append(f"{what} at {where}")
    assert not problems, f"{len(problems)} layout problems:\n" + "\n".join(
        f"  {len(seen)} x {seen[0]}" for seen in kinds.values())


@pytest.mark.parametrize("name", list(PAGES))
def test_the_page_reads_right_in_a_browser(browser, name):
    make, fits, matrices = PAGES[name]
    _check(_load(browser, name, make()), fits, matrices)


def test_on_a_narrow_screen_formulas_scroll_rather_than_wrap(browser):
    # 640 px: the drawing and the matrix formulas are wider; each scrolls in its own box
    page = _load(browser, "mnist-nielsen-narrow", _mnist("nielsen"), {"width": 640, "height": 900})
    _check(page, fits=False, matrices=True)
