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


def _runs(values: dict, w="W3"):
    """values: {entry id: [value of round 0, round 1, ...]} (None: that round failed)."""
    out = []
    for eid, vals in values.items():
        for r, v in enumerate(vals):
            res = {"error": "boom"} if v is None else {"value": v, "unit": "us/update", "rss_mib": {"peak": 100.0},
                                                       "phases_s": {}}
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


@pytest.mark.parametrize("torch_us, holds", [(100.0, True), (50.0, False)])
def test_targets_are_judged_on_the_ratio_of_medians(run, torch_us, holds):
    entries = run.entries_for(["deltaprop", "torch"], ["numba"])
    runs = _runs({"deltaprop-numba": [2.0, 2.0], "torch": [torch_us, torch_us]})
    report = {"entries": entries, "config": {"quick": False, "epochs": {}},
              "summary": run.summarise(runs, [], entries, ["W3"])}
    (row,) = [t for t in run.targets(report) if t["target"] == "<= 0.03 x PyTorch"]
    assert row["holds"] is holds
    assert row["measured"].startswith(f"{2.0 / torch_us:.3f} x (rounds ")
