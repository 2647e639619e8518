"""The benchmark's report arithmetic (benchmarks/run.py, standard library only): ratios of
medians, the rounds' own ratios, and the issue's targets judged from them. The timings
themselves are never tested (speed is shown by `make bench`, not by a timed test)."""

import importlib.util
import statistics
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def run():
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _runs(values: dict, w="W3", unit="us/update", **extra):
    """values: {entry id: [value of round 0, round 1, ...]} (None: that round failed)."""
    out = []
    for eid, vals in values.items():
        for r, v in enumerate(vals):
            res = {"error": "boom"} if v is None else {"value": v, "unit": unit, "rss_mib": {"peak": 100.0},
                                                       "phases_s": {}, **extra}
            out.append({"round": r, "workload": w, "entry": eid, "result": res})
    return out


def test_ratio_of_medians_and_the_rounds_own_ratios(run):
    entries = run.entries_for(["deltaprop", "torch"], ["numba"])
    # the machine was slow in round 1 for both tools: each round's own ratio stays 0.02
    runs = _runs({"deltaprop-numba": [2.0, 6.0, 3.0], "torch": [100.0, 300.0, 150.0]})
    s = run.summarise(runs, [], entries, ["W3"])["W3"]
    assert s["rows"]["deltaprop-numba"]["median"] == 3.0
    assert s["ratios"]["deltaprop-numba"]["torch"] == pytest.approx(3.0 / 150.0)
    pr = s["paired_ratios"]["deltaprop-numba"]["torch"]
    assert pr["per_round"] == pytest.approx([0.02, 0.02, 0.02])
    assert pr["min"] == pytest.approx(0.02) and pr["max"] == pytest.approx(0.02)
    assert s["paired_ratios"]["deltaprop-numba"]["deltaprop-numba"] is None


def test_a_failed_round_pairs_with_nothing(run):
    entries = run.entries_for(["deltaprop", "torch"], ["numba"])
    runs = _runs({"deltaprop-numba": [2.0, 4.0, 3.0], "torch": [100.0, None, 120.0]})
    s = run.summarise(runs, [], entries, ["W3"])["W3"]
    pr = s["paired_ratios"]["deltaprop-numba"]["torch"]
    assert pr["per_round"] == pytest.approx([0.02, 0.025])
    assert pr["median"] == pytest.approx(statistics.median([0.02, 0.025]))
    assert s["ratios"]["deltaprop-numba"]["torch"] == pytest.approx(3.0 / 110.0)


@pytest.mark.parametrize("scan_us, holds", [(2.0, True), (1.9, False)])
def test_targets_are_judged_on_the_ratio_of_medians(run, scan_us, holds):
    entries = run.entries_for(["deltaprop", "jax-scan"], ["numba"])
    runs = _runs({"deltaprop-numba": [2.0, 2.0], "jax-scan": [scan_us, scan_us]})
    report = {"entries": entries, "config": {"quick": False, "epochs": {}}, "runs": runs,
              "summary": run.summarise(runs, [], entries, ["W3"])}
    (row,) = [t for t in run.targets(report) if t["target"] == "<= 1.0 x JAX lax.scan epoch (per update)"]
    assert row["holds"] is holds
    assert row["measured"].startswith(f"{2.0 / scan_us:.3f} x (rounds ")


def test_the_ceiling_share_is_median_against_median(run):
    entries = run.entries_for(["deltaprop"], ["numba"])
    runs = _runs({"deltaprop-numba": [1.0, 2.0, 4.0]}, w="W1", unit="s/epoch")
    ceilings = [{"round": r, "workloads": {"W1": {"value": v, "per_batch": {}}}} for r, v in enumerate([0.5, 1.0, 3.0])]
    s = run.summarise(runs, ceilings, entries, ["W1"])["W1"]
    row = s["rows"]["deltaprop-numba"]
    assert s["ceiling"]["value"] == 1.0                         # the median round, not the best (0.5)
    assert row["ceiling_fraction"] == pytest.approx(1.0 / 2.0)
    assert row["ceiling_fraction_rounds"]["per_round"] == pytest.approx([0.5, 0.5, 0.75])


def test_a_pair_that_is_not_run_is_reported_so(run):
    entries = run.entries_for(["deltaprop", "sklearn", "torch"], ["numba"])
    runs = _runs({"deltaprop-numba": [30.0], "torch": [40.0]}, w="W4", unit="s/epoch")
    s = run.summarise(runs, [], entries, ["W4"], {("sklearn", "W4"): "why"})
    assert s["W4"]["rows"]["sklearn"]["not_run"] == "why"
    report = {"entries": entries, "config": {"quick": False, "epochs": {"W4": 1}}, "runs": runs, "summary": s}
    (row,) = [t for t in run.targets(report) if t["target"] == "<= 1.0 x PyTorch (CPU)"]
    assert row["holds"] is True


def test_start_up_against_the_lesser_jax_compile(run):
    entries = run.entries_for(["deltaprop", "jax-step", "jax-scan"], ["numba"])
    runs = (_runs({"deltaprop-numba": [2.0, 2.0]}, startup_s=0.5)
            + _runs({"jax-step": [3.0, 3.0]}, compile_s=0.6) + _runs({"jax-scan": [0.1, 0.1]}, compile_s=0.4))
    fresh = [{"round": r, "workload": "W3", "result": {"startup_s": v, "rss_mib": {"peak": 1.0}}}
             for r, v in enumerate([4.0, 6.0])]
    report = {"entries": entries, "config": {"quick": False, "epochs": {}}, "runs": runs,
              "summary": run.summarise(runs, [], entries, ["W3"], None, fresh)}
    t = {row["target"].split(":")[0]: row for row in run.targets(report)}
    assert t["start-up"]["holds"] is False and "0.50 s vs 0.40 s" in t["start-up"]["measured"]
    assert t["compile on a fresh install"]["holds"] is True     # 5.00 s: at the limit
    assert t["compile on a fresh install"]["measured"] == "5.00 s (rounds 4.00-6.00 s)"
