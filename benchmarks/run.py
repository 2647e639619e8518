#!/usr/bin/env python3
"""deltaprop's benchmark suite: W1, W2, W3 in deltaprop, PyTorch, JAX and scikit-learn.

    python3 benchmarks/run.py [--quick] [--workloads W1,W2,W3] [--tools ...] [--rounds N] [--plot]

(``make bench BENCH_ARGS="..."`` runs this.) Standard library only: it creates each
tool's virtual environment under benchmarks/.venvs/ if missing, runs every tool in its
own process, interleaved tool by tool in each round (the starting tool rotates from
round to round), measures the NumPy matrix-product ceiling in each round, and writes
benchmarks/results/latest.json and latest.md (and latest.png with --plot).
See benchmarks/README.md for what each workload and tool runs.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENVS = BENCH / ".venvs"
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH))

#: Every tool: its environment, its script and fixed arguments, and its column label.
TOOLS = {
    "deltaprop": dict(env="deltaprop", script="tool_deltaprop.py", args=[], label="deltaprop"),
    "torch": dict(env="torch", script="tool_torch.py", args=[], label="PyTorch (CPU)"),
    "jax-step": dict(env="jax", script="tool_jax.py", args=["--variant", "step"], label="JAX jit step"),
    "jax-scan": dict(env="jax", script="tool_jax.py", args=["--variant", "scan"], label="JAX lax.scan epoch"),
    "sklearn": dict(env="sklearn", script="tool_sklearn.py", args=[], label="scikit-learn MLP"),
    "deltaprop-baseline": dict(env=None, script="tool_deltaprop.py", args=[], label="deltaprop (baseline)"),
}
ALL_WORKLOADS = ("W1", "W2", "W3")
QUICK_EPOCHS = {"W1": 2, "W2": 1}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# Environments

def env_python(env: str) -> Path:
    return VENVS / env / "bin" / "python"


def _engine_extras() -> list[str]:
    """The optional-dependency group of pyproject.toml that brings the compiled engine
    (numba): ``fast`` if declared, else the smallest group with numba (dev and all left out)."""
    text = (ROOT / "pyproject.toml").read_text()
    try:
        import tomllib
        extras = tomllib.loads(text).get("project", {}).get("optional-dependencies", {})
    except ModuleNotFoundError:   # Python 3.10: no tomllib; look for the line itself
        return ["fast"] if any(line.startswith("fast = [") and "numba" in line for line in text.splitlines()) else []
    if any(r.lower().startswith("numba") for r in extras.get("fast", [])):
        return ["fast"]
    with_numba = sorted((len(reqs), name) for name, reqs in extras.items()
                        if name not in ("dev", "all") and any(r.lower().startswith("numba") for r in reqs))
    return [with_numba[0][1]] if with_numba else []


BASELINE_PREFIX = "deltaprop@"


def _env_spec(env: str) -> tuple[list[list[str]], str]:
    """The pip install commands of an environment and a key that changes when they would.
    ``deltaprop@<commit>`` is deltaprop as it was at that commit (``--baseline``),
    installed from a copy of its tree."""
    base = env.startswith(BASELINE_PREFIX)
    req = BENCH / "requirements" / f"{'deltaprop' if base else env}.txt"
    cmds = [["-r", str(req)]]
    key_src = req.read_text() + platform.python_version()
    if env == "deltaprop":
        extras = ",".join(["plot", *_engine_extras()])
        cmds.append(["-e", f"{ROOT}[{extras}]"])
        key_src += (ROOT / "pyproject.toml").read_text()
    elif base:
        src = _baseline_tree(env[len(BASELINE_PREFIX):])
        cmds.append([f"{src}[plot,fast]"])
        key_src += env
    return cmds, hashlib.sha256(key_src.encode()).hexdigest()


def _baseline_tree(commit: str) -> Path:
    """deltaprop's source as it was at ``commit``, unpacked under benchmarks/.venvs/."""
    src = VENVS / f"src-{commit}"
    if not (src / "pyproject.toml").exists():
        src.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    return src


def ensure_env(env: str) -> dict:
    """Create or update ``benchmarks/.venvs/<env>``; return its stamp (with the set-up seconds)."""
    venv = VENVS / env
    stamp_path = venv / ".bench-stamp.json"
    cmds, key = _env_spec(env)
    if stamp_path.exists() and env_python(env).exists():
        stamp = json.loads(stamp_path.read_text())
        if stamp.get("key") == key:
            return {**stamp, "created_now": False}
    log(f"[setup] creating/updating {venv.relative_to(ROOT)} ...")
    t = time.perf_counter()
    if not env_python(env).exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for cmd in cmds:
        subprocess.run([str(env_python(env)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        *cmd], check=True)
    seconds = time.perf_counter() - t
    freeze = subprocess.run([str(env_python(env)), "-m", "pip", "freeze", "--disable-pip-version-check"],
                            capture_output=True, text=True).stdout.split("\n")
    stamp = {"key": key, "setup_s": seconds, "date": _now(), "python": platform.python_version(),
             "packages": [line for line in freeze if line and not line.startswith("#")]}
    stamp_path.write_text(json.dumps(stamp, indent=1))
    log(f"[setup] {env}: {seconds:.0f} s")
    return {**stamp, "created_now": True}


def prime_numba(workloads: list[str], raw: Path, threads: int, timeout: float, env: str = "deltaprop") -> dict:
    """Compile the numba engine's kernels into numba's on-disk cache once, untimed: a user
    pays that once per install (and CPU), not per run, and a timed process that compiled
    would also count the compiler's memory in its peak. Returns seconds per workload."""
    spent = {}
    for w in workloads:
        cmd = [str(env_python(env)), TOOLS["deltaprop"]["script"], "--workload", w, "--engine", "numba"]
        if w != "W3":
            cmd += ["--epochs", "1"]
        t = time.perf_counter()
        res = run_process(cmd, raw / f"prime-{env}-{w}.json", threads, timeout)
        spent[w] = time.perf_counter() - t
        log(f"[setup] numba cache of {env} for {w}: {spent[w]:.1f} s"
            + (f" (FAILED: {res['error']})" if "error" in res else ""))
    return spent


def probe_deltaprop() -> dict:
    """Whether this deltaprop's fit takes ``engine=``, whether numba is importable, and the engines it lists."""
    code = ("import importlib.util, inspect, json, deltaprop as dp\n"
            "eng = getattr(getattr(dp, 'engines', None), 'ENGINES', None)\n"
            "print(json.dumps({'fit_has_engine': 'engine' in inspect.signature(dp.Network.fit).parameters,\n"
            "  'numba': importlib.util.find_spec('numba') is not None,\n"
            "  'listed_engines': list(eng) if eng else None,\n"
            "  'version': getattr(dp, '__version__', '?')}))")
    out = subprocess.run([str(env_python("deltaprop")), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


# --------------------------------------------------------------------------------------
# Machine facts

def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def machine() -> dict:
    info = {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version()}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        for line in cpuinfo.splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name" and "cpu_model" not in info:
                info["cpu_model"] = value
            elif key == "flags" and "cpu_flags" not in info:
                flags = set(value.split())
                info["cpu_flags"] = sorted(f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16",
                                                       "avx512_vnni", "amx_tile") if f in flags)
            elif key in ("cpu family", "model", "stepping") and f"cpu_{key.replace(' ', '_')}_id" not in info:
                info[f"cpu_{key.replace(' ', '_')}_id"] = value
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "Vendor ID", "Thread(s) per core", "L2 cache", "L3 cache"):
                info.setdefault("lscpu", {})[key.strip()] = value.strip()
    return info


def git_state() -> dict:
    def git(*a):
        r = subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None
    status = git("status", "--porcelain", "--", "src", "pyproject.toml")
    return {"commit": git("rev-parse", "HEAD"), "library_dirty": bool(status) if status is not None else None}


# --------------------------------------------------------------------------------------
# Running

def child_env(threads: int) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = str(threads)
    env["BENCH_THREADS"] = str(threads)
    env.setdefault("PYTHONHASHSEED", "0")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONPATH", None)
    return env


def _pin(threads: int):
    """On a machine with more cores than ``threads``, keep every tool on the same ``threads`` cores."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None
    if len(cpus) <= threads:
        return None
    keep = set(cpus[:threads])
    return lambda: os.sched_setaffinity(0, keep)


def run_process(cmd: list[str], out: Path, threads: int, timeout: float) -> dict:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd + ["--out", str(out)], env=child_env(threads), capture_output=True, text=True,
                              timeout=timeout, cwd=BENCH, preexec_fn=_pin(threads))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "wall_s": time.perf_counter() - t}
    wall = time.perf_counter() - t
    out.with_suffix(".log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        return {"error": f"exit {proc.returncode}: " + "\n".join(tail), "wall_s": wall}
    res = json.loads(out.read_text())
    res["wall_s"] = wall
    res["load_before"] = load       # 1-minute load average when it started (others' work shows here)
    return res


def entries_for(tools: list[str], engines: list[str | None], baseline: str | None = None) -> list[dict]:
    """The columns: one per deltaprop engine, one per other tool, and deltaprop at the
    ``baseline`` commit (its default engine) as one more peer."""
    out = []
    if baseline:
        out.append({"id": "baseline", "tool": "deltaprop-baseline", "env": BASELINE_PREFIX + baseline,
                    "label": f"deltaprop at {baseline}", "args": list(TOOLS["deltaprop"]["args"])})
    for tool in tools:
        spec = TOOLS[tool]
        if tool == "deltaprop":
            for eng in engines:
                out.append({"id": f"deltaprop-{eng or 'numpy'}", "tool": tool, "env": spec["env"],
                            "label": f"deltaprop ({eng or 'numpy'})",
                            "args": [*spec["args"], *(["--engine", eng] if eng else [])]})
        else:
            out.append({"id": tool, "tool": tool, "env": spec["env"], "label": spec["label"],
                        "args": list(spec["args"])})
    return out


# --------------------------------------------------------------------------------------
# Summaries

def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarise(runs: list[dict], ceilings: list[dict], entries: list[dict], workloads: list[str]) -> dict:
    summary = {}
    for w in workloads:
        rows = {}
        for e in entries:
            rs = [r for r in runs if r["entry"] == e["id"] and r["workload"] == w]
            ok = [r["result"] for r in rs if "error" not in r["result"]]
            errors = [r["result"]["error"] for r in rs if "error" in r["result"]]
            if not ok:
                rows[e["id"]] = {"label": e["label"], "errors": errors}
                continue
            vals = [r["value"] for r in ok]
            accs = [r.get("test_accuracy") for r in ok if r.get("test_accuracy") is not None]
            rows[e["id"]] = {
                "label": e["label"], "unit": ok[0]["unit"], "n": len(ok), "values": vals,
                "median": statistics.median(vals), "min": min(vals), "max": max(vals),
                "epochs": ok[0].get("epochs"), "updates": ok[0].get("updates"),
                "test_accuracy": accs, "test_accuracy_median": _median(accs),
                "final_loss": [r.get("final_loss") for r in ok] if w == "W3" else None,
                "final_loss_note": ok[0].get("final_loss_note"),
                "engine_used": ok[0].get("engine_used"),
                # the median over rounds, like the times (the first process after an install
                # also holds the compiler's memory; the setup primes numba's cache for that)
                "peak_rss_mib": statistics.median(r["rss_mib"]["peak"] for r in ok),
                "peak_rss_mib_max": max(r["rss_mib"]["peak"] for r in ok),
                "rss_after_data_mib": _median([r["rss_mib"].get("after_data") for r in ok]),
                "warmup_s": _median([r.get("warmup_s") for r in ok]),
                "compile_s": _median([r.get("compile_s") for r in ok]),
                "import_s": _median([r["phases_s"].get("import") for r in ok]),
                "data_s": _median([r["phases_s"].get("data") for r in ok]),
                "process_wall_s": _median([r.get("wall_s") for r in ok]),
                "errors": errors,
            }
        cvals = [c["workloads"][w]["value"] for c in ceilings if w in c.get("workloads", {})]
        ceil = min(cvals) if cvals else None
        for row in rows.values():
            if ceil and row.get("median"):
                row["ceiling_fraction"] = ceil / row["median"]
        ratios = {}
        for d in [e for e in entries if e["tool"] == "deltaprop"]:
            dm = rows.get(d["id"], {}).get("median")
            ratios[d["id"]] = {p["id"]: (dm / rows[p["id"]]["median"]) if dm and rows.get(p["id"], {}).get("median")
                               else None for p in entries if p["id"] != d["id"]}
        # The same ratios round by round: deltaprop's run and the peer's ran minutes apart in
        # one round, so a slow or fast spell of this machine hits both (the spread says how
        # far a single round can be trusted).
        paired = {}
        for d in [e for e in entries if e["tool"] == "deltaprop"]:
            mine = _by_round(runs, d["id"], w)
            paired[d["id"]] = {}
            for p in entries:
                theirs = _by_round(runs, p["id"], w) if p["id"] != d["id"] else {}
                rs = [mine[r] / theirs[r] for r in sorted(mine) if theirs.get(r)]
                paired[d["id"]][p["id"]] = ({"per_round": rs, "median": statistics.median(rs), "min": min(rs),
                                             "max": max(rs)} if rs else None)
        summary[w] = {"ceiling": {"value": ceil, "unit": "us/update" if w == "W3" else "s/epoch",
                                  "per_round": cvals,
                                  "detail": next((c["workloads"][w] for c in ceilings
                                                  if c.get("workloads", {}).get(w, {}).get("value") == ceil), None)},
                      "rows": rows, "ratios": ratios, "paired_ratios": paired}
    return summary


def _spread(s: dict, d: str, peer: str, digits: int, dash: str) -> str:
    """' (least-greatest)' of the rounds' own ratios of ``d`` to ``peer``, or '' for one round or none."""
    pr = (s.get("paired_ratios") or {}).get(d, {}).get(peer)
    return f" ({pr['min']:.{digits}f}{dash}{pr['max']:.{digits}f})" if pr and len(pr["per_round"]) > 1 else ""


def _openblas_env() -> dict:
    return {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}


def _by_round(runs: list[dict], entry: str, w: str) -> dict:
    """{round: value} of one entry's successful runs of workload ``w``."""
    return {r["round"]: r["result"]["value"] for r in runs
            if r["entry"] == entry and r["workload"] == w and "error" not in r["result"] and r["result"].get("value")}


#: The issue's targets for deltaprop (its default engine: numba when installed), as
#: (workload, description, function of the summary -> (measured text, holds)).
def _ratio(s, d, peer):
    return s["ratios"].get(d, {}).get(peer)


def targets(report: dict) -> list[dict]:
    """Each target of the issue, evaluated on this run's medians (None: not measured)."""
    summ, quick = report["summary"], report["config"]["quick"]
    ids = [e["id"] for e in report["entries"] if e["tool"] == "deltaprop"]
    d = "deltaprop-numba" if "deltaprop-numba" in ids else (ids[0] if ids else None)
    rows = []

    def add(w, what, value, ok, shown):
        rows.append({"workload": w, "target": what, "measured": shown if value is not None else "not measured",
                     "holds": (bool(ok) if value is not None else None)})

    def ratio_target(w, peer, limit, label):
        r = _ratio(summ[w], d, peer) if w in summ else None
        spread = _spread(summ[w], d, peer, 3, "-").replace(" (", " (rounds ") if w in summ else ""
        add(w, f"<= {limit} x {label}" if limit != 1 else f"faster than {label}", r,
            r is not None and r <= limit if limit != 1 else r is not None and r < 1,
            f"{r:.3f} x{spread}" if r else "")

    def ceiling_target(w, frac):
        row = summ.get(w, {}).get("rows", {}).get(d, {}) if w in summ else {}
        f = row.get("ceiling_fraction")
        add(w, f">= {frac:.0%} of the matrix-product ceiling", f, f is not None and f >= frac, f"{f:.0%}" if f else "")

    if "W1" in summ:
        ratio_target("W1", "torch", 0.10, "PyTorch")
        ratio_target("W1", "jax-step", 1, "JAX jit step")
        ratio_target("W1", "jax-scan", 1, "JAX lax.scan epoch")
        ratio_target("W1", "sklearn", 0.2, "scikit-learn")
        ceiling_target("W1", 0.5)
    if "W2" in summ:
        ratio_target("W2", "torch", 0.5, "PyTorch")
        ratio_target("W2", "jax-step", 1, "JAX jit step")
        ratio_target("W2", "sklearn", 0.5, "scikit-learn")
        ceiling_target("W2", 0.6)
        mine = summ["W2"]["rows"].get(d, {}).get("peak_rss_mib")
        theirs = summ["W2"]["rows"].get("torch", {}).get("peak_rss_mib")
        r = mine / theirs if mine and theirs else None
        add("W2", "peak resident memory <= 0.7 x PyTorch's", r, r is not None and r <= 0.7,
            f"{mine:.0f} / {theirs:.0f} MiB = {r:.2f} x" if r else "")
    if "W3" in summ:
        ratio_target("W3", "torch", 0.03, "PyTorch")
        ratio_target("W3", "jax-step", 1, "JAX jit step")
        ratio_target("W3", "sklearn", 0.15, "scikit-learn")
    for w, need, epochs in (("W1", 0.95, 30), ("W2", 0.975, 5)):
        if w not in summ:
            continue
        acc = summ[w]["rows"].get(d, {}).get("test_accuracy_median")
        ran = report["config"]["epochs"].get(w)
        if quick or ran != epochs:
            rows.append({"workload": w, "target": f"test accuracy >= {need:.1%} after {epochs} epochs",
                         "measured": f"not checked ({ran} epochs run)", "holds": None})
            continue
        add(w, f"test accuracy >= {need:.1%} after {epochs} epochs", acc, acc is not None and acc >= need,
            f"{acc:.2%}" if acc else "")
        if w == "W2":
            t_acc = summ[w]["rows"].get("torch", {}).get("test_accuracy_median")
            ok = acc is not None and t_acc is not None and acc >= t_acc
            add(w, "test accuracy no worse than PyTorch's at equal epochs", t_acc if acc else None, ok,
                f"{acc:.2%} vs {t_acc:.2%}" if acc and t_acc else "")
    return rows


def _blas_lines(report: dict) -> list[str]:
    """One line per environment: the BLAS/OpenMP pools threadpoolctl saw in its processes."""
    out = []
    for eid, pools in report.get("threadpools", {}).items():
        if not isinstance(pools, list):
            continue
        desc = ", ".join(f"{p.get('internal_api')} {p.get('version') or ''} ({p.get('user_api')}, "
                         f"{p.get('num_threads')} threads{', ' + p['architecture'] if p.get('architecture') else ''})"
                         .replace(" (", " (", 1) for p in pools) or "none loaded"
        out.append(f"- {eid}: {desc}")
    return out


def _fmt(x, unit):
    if x is None:
        return "—"
    if unit == "us/update":
        return f"{x:.1f}"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def markdown(report: dict) -> str:
    m, cfg = report["machine"], report["config"]
    lines = [f"# deltaprop benchmarks — {report['date'][:10]}", ""]
    mode = ("**--quick**: timing only, fewer epochs; the accuracies are NOT at the target epoch counts"
            if cfg["quick"] else "full: W1 30 epochs, W2 5 epochs, W3 10,000 updates per run")
    lines += [
        f"Measured {report['date']} on {m.get('cpu_model', '?')} ({m.get('cpus_usable', m.get('cpu_count'))} "
        f"cores usable, {m.get('memory_gib', '?')} GiB), {m['platform']}, Python {m['python']}; "
        f"{cfg['threads']} threads for every tool; {cfg['rounds']} rounds, tools interleaved in each round; "
        f"{mode}. deltaprop {report['deltaprop'].get('version')} at commit "
        f"`{(report['git'].get('commit') or '?')[:10]}`" + (" (library modified)" if report['git'].get("library_dirty") else "")
        + ". Times are medians over the rounds; each run's time is one whole training run divided by its "
          "epochs (or updates), after one untimed warm-up run of the same kind.", ""]
    lines += ["Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(report["versions"].items())) + ".", ""]
    d_ids = [e["id"] for e in report["entries"] if e["tool"] == "deltaprop"]
    lines += ["## deltaprop time ÷ peer time", "",
              "Below 1: deltaprop is faster; above 1: slower by that factor.", ""]
    peers = [e for e in report["entries"] if e["tool"] != "deltaprop"]
    head = "| workload | deltaprop engine | " + " | ".join(p["label"] for p in peers) + " |"
    lines += [head, "|" + "---|" * (2 + len(peers))]
    for w, s in report["summary"].items():
        for d in d_ids:
            cells = []
            for p in peers:
                c = s["ratios"].get(d, {}).get(p["id"])
                cells.append("—" if c is None else f"{c:.2f}{_spread(s, d, p['id'], 2, '–')}")
            lines.append(f"| {w} | {d.split('-', 1)[1]} | " + " | ".join(cells) + " |")
    lines += ["", "Each cell: the ratio of the medians, and in brackets the least and greatest of the "
                  "rounds' own ratios (deltaprop's run and the peer's in the same round).", ""]
    tg = report.get("targets") or []
    if tg:
        held = sum(1 for t in tg if t["holds"])
        checked = sum(1 for t in tg if t["holds"] is not None)
        lines += [f"## Targets (deltaprop's default engine): {held} of {checked} checked hold", "",
                  "| workload | target | measured (medians; rounds' own ratios) | holds |", "|---|---|---|---|"]
        for t in tg:
            mark = {True: "yes", False: "**NO**", None: "—"}[t["holds"]]
            lines.append(f"| {t['workload']} | {t['target']} | {t['measured']} | {mark} |")
        lines.append("")
    loads = [x["result"].get("load_before") for x in report["runs"] if x["result"].get("load_before") is not None]
    if loads:
        lines += [f"Machine load (1-minute load average as each of the {len(loads)} tool processes started): "
                  f"median {statistics.median(loads):.2f}, max {max(loads):.2f}, on "
                  f"{report['machine'].get('cpus_usable', report['machine'].get('cpu_count'))} cores "
                  "(this run's own previous process included).", ""]
    blas = _blas_lines(report)
    if blas:
        lines += ["Thread pools (threadpoolctl) in each column's process:", "", *blas, ""]
    pins = report.get("openblas_env") or {}
    core = report["config"].get("openblas_coretype")
    was = (report.get("openblas_env_inherited") or {}).get("OPENBLAS_CORETYPE")
    if core and core != "inherit":
        lines += [f"Run with `--openblas-coretype {core}`: "
                  + ("OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for every tool, so OpenBLAS picked its "
                     "kernels for this CPU"
                     if core == "auto" else f"OPENBLAS_CORETYPE={core} for every tool")
                  + (f" (this machine's environment sets OPENBLAS_CORETYPE={was}; `--openblas-coretype inherit` "
                     "keeps it)." if was else "."), ""]
    if pins:
        lines += ["OpenBLAS settings the tools ran with, every tool alike: "
                  + ", ".join(f"`{k}={v}`" for k, v in sorted(pins.items()))
                  + (" (OpenBLAS runs its Haswell (AVX2) kernels whatever the CPU; PyTorch and JAX "
                     "multiply matrices with their own libraries, which it does not hold back)."
                     if pins.get("OPENBLAS_CORETYPE", "").lower() == "haswell" else "."), ""]
    if report.get("numba_prime_s"):
        lines += ["numba's cache was filled before round 1 (untimed: "
                  + ", ".join(f"{w} {v:.1f} s" for w, v in report["numba_prime_s"].items())
                  + "), as after a user's first run; peak memory is the median over rounds.", ""]
    for w, s in report["summary"].items():
        wl = report["workloads"][w]
        unit = s["ceiling"]["unit"]
        what = {"W1": "784-30-10 sigmoid, quadratic cost, SGD lr 3.0, batch 10, float64, 50,000 images",
                "W2": "784-256-256-10 ReLU, softmax + cross-entropy, Adam lr 1e-3, batch 128, float32, 60,000 images",
                "W3": "the 2-2-2 worked example, 10,000 updates of batch 1, SGD lr 0.5, float64"}[w]
        lines += [f"## {w} \"{wl['title']}\": {what}", ""]
        acc_col = w != "W3"
        cols = ["tool", f"{unit} (median)", "min–max", "runs"]
        cols += ["test accuracy" if acc_col else "final E_total"]
        cols += ["peak RSS MiB", "RSS after data MiB", "warm-up run s", "compile s", "ceiling ÷ time"]
        cols += [f"{d.split('-', 1)[1]} ÷ this" for d in d_ids]
        lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for eid, r in s["rows"].items():
            if "median" not in r:
                lines.append(f"| {r['label']} | failed: {(r['errors'] or ['?'])[0].splitlines()[0][:80]} |" + " |" * (len(cols) - 2))
                continue
            if acc_col:
                acc = r["test_accuracy_median"]
                extra = f" ({r['epochs']} ep.)" if cfg["quick"] else ""
                accs = "—" if acc is None else f"{100 * acc:.2f}%{extra}"
            else:
                fl = [x for x in (r["final_loss"] or []) if x is not None]
                accs = "—" if not fl else f"{statistics.median(fl):.4g}"
                if r.get("final_loss_note"):
                    accs += " (other model)"
            cells = [r["label"], _fmt(r["median"], unit), f"{_fmt(r['min'], unit)}–{_fmt(r['max'], unit)}", str(r["n"]),
                     accs, f"{r['peak_rss_mib']:.0f}",
                     "—" if r["rss_after_data_mib"] is None else f"{r['rss_after_data_mib']:.0f}",
                     "—" if r["warmup_s"] is None else f"{r['warmup_s']:.2f}",
                     "—" if r["compile_s"] is None else f"{r['compile_s']:.2f}",
                     "—" if r.get("ceiling_fraction") is None else f"{r['ceiling_fraction']:.2f}"]
            cells += ["—" if s["ratios"][d].get(eid) is None else f"{s['ratios'][d][eid]:.2f}" if eid != d else "1"
                      for d in d_ids]
            lines.append("| " + " | ".join(cells) + " |")
        c = s["ceiling"]
        if c["value"] is not None:
            lines += ["", f"Ceiling (NumPy matrix products only, at this workload's shapes and batch size, best of "
                          f"{len(c['per_round'])} rounds): **{_fmt(c['value'], unit)} {unit}**."]
        lines.append("")
    lines += ["## Set-up", "", "| environment | install s (when created) | created |", "|---|---|---|"]
    for env, st in report["environments"].items():
        lines.append(f"| {env} | {st.get('setup_s', 0):.0f} | {st.get('date', '?')[:19]} |")
    lines += ["", f"The whole run took {report['elapsed_s'] / 60:.1f} minutes (set-up included).", ""]
    if cfg["quick"]:
        lines += ["Accuracies above are after the few epochs of a --quick run, not after W1's 30 or W2's 5.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help=f"timing only: {QUICK_EPOCHS['W1']} epochs of W1, {QUICK_EPOCHS['W2']} of W2 (accuracy NOT at the target)")
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS))
    p.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, from {','.join(TOOLS)}")
    p.add_argument("--engines", default=None,
                   help="deltaprop engines, e.g. numpy,numba (default: numpy, and numba when fit takes engine= "
                        "and numba is installed)")
    p.add_argument("--rounds", type=int, default=5,
                   help="rounds of every tool (default 5: this kind of shared 2-core machine swings by a "
                        "third from minute to minute, and 3 rounds let one slow spell set a median)")
    p.add_argument("--epochs", type=int, default=None, help="override the timed epochs of W1 and W2")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-ceiling", action="store_true")
    p.add_argument("--plot", action="store_true", help="also draw results/latest.png (matplotlib, deltaprop env)")
    p.add_argument("--name", default="latest", help="base name of the result files in benchmarks/results/")
    p.add_argument("--baseline", metavar="COMMIT", default=None,
                   help="also run deltaprop as it was at COMMIT (its default engine), in its own environment, "
                        "interleaved with the others: before and after a change, side by side in one run")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed to one tool process")
    p.add_argument("--openblas-coretype", default="auto", metavar="CORE",
                   help="the OPENBLAS_CORETYPE every tool runs with. 'auto' (the default): OPENBLAS_CORETYPE and "
                        "OPENBLAS_L2_SIZE unset together, so OpenBLAS picks its kernels for this CPU, as PyTorch's "
                        "and JAX's own libraries do; 'inherit': the environment's settings as they are (what a "
                        "user with them gets); any other value: that core type")
    args = p.parse_args(argv)
    inherited = _openblas_env()
    if args.openblas_coretype == "auto":
        # together: an L2 size pinned for one core type misleads the kernels of another
        os.environ.pop("OPENBLAS_CORETYPE", None)
        os.environ.pop("OPENBLAS_L2_SIZE", None)
    elif args.openblas_coretype != "inherit":
        os.environ["OPENBLAS_CORETYPE"] = args.openblas_coretype
    started = time.perf_counter()
    workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for w in workloads:
        if w not in ALL_WORKLOADS:
            p.error(f"unknown workload {w!r}; choose from {ALL_WORKLOADS}")
    for t in tools:
        if t not in TOOLS:
            p.error(f"unknown tool {t!r}; choose from {list(TOOLS)}")
        if t == "deltaprop-baseline":
            p.error("--tools: deltaprop-baseline is run by --baseline COMMIT (which commit to compare with); "
                    "leave it out of --tools")
    if "deltaprop" not in tools and not args.no_ceiling:
        tools.insert(0, "deltaprop")   # the ceiling runs in the deltaprop environment; it is the subject anyway

    if args.baseline:
        args.baseline = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=10", args.baseline],
                                       capture_output=True, text=True, check=True).stdout.strip()
    envs = {}
    for env in dict.fromkeys(["deltaprop"] + [TOOLS[t]["env"] for t in tools]
                             + ([BASELINE_PREFIX + args.baseline] if args.baseline else [])):
        envs[env] = ensure_env(env)
    probe = probe_deltaprop()
    if args.engines:
        engines = [e.strip() for e in args.engines.split(",")]
        if not probe["fit_has_engine"]:
            p.error("this deltaprop's fit takes no engine= argument")
    elif probe["fit_has_engine"]:
        engines = ["numpy"] + (["numba"] if probe["numba"] else [])
    else:
        engines = [None]       # today's reference: nothing passed
    entries = entries_for(tools, engines, args.baseline)
    log(f"[bench] deltaprop {probe['version']}: fit(engine=) {'yes' if probe['fit_has_engine'] else 'no'}, "
        f"numba {'yes' if probe['numba'] else 'no'}; columns: {', '.join(e['label'] for e in entries)}")

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    raw = RESULTS / "raw" / stamp
    raw.mkdir(parents=True, exist_ok=True)
    runs, ceilings = [], []
    import workloads as common
    prime_s = prime_numba(workloads, raw, args.threads, args.timeout) if "numba" in engines else None
    if args.baseline:
        prime_numba(workloads, raw, args.threads, args.timeout, BASELINE_PREFIX + args.baseline)
    for r in range(args.rounds):
        if not args.no_ceiling:
            out = raw / f"r{r}-ceiling.json"
            res = run_process([str(env_python("deltaprop")), "ceiling.py", "--workloads", ",".join(workloads)],
                              out, args.threads, args.timeout)
            if "error" in res:
                log(f"[round {r + 1}] ceiling FAILED: {res['error']}")
            else:
                ceilings.append(res)
                log(f"[round {r + 1}] ceiling: " + ", ".join(
                    f"{w} {_fmt(v['value'], v['unit'])} {v['unit']}" for w, v in res["workloads"].items()))
        for w in workloads:
            order = entries[r % len(entries):] + entries[:r % len(entries)]
            for e in order:
                cmd = [str(env_python(e["env"])), TOOLS[e["tool"]]["script"], "--workload", w, "--seed", str(r),
                       *e["args"]]
                if w != "W3":
                    epochs = args.epochs or (QUICK_EPOCHS[w] if args.quick else common.WORKLOADS[w]["epochs"])
                    cmd += ["--epochs", str(epochs)]
                out = raw / f"r{r}-{w}-{e['id']}.json"
                res = run_process(cmd, out, args.threads, args.timeout)
                runs.append({"round": r, "workload": w, "entry": e["id"], "result": res})
                if "error" in res:
                    log(f"[round {r + 1}/{args.rounds}] {w} {e['label']}: FAILED {res['error']}")
                else:
                    acc = res.get("test_accuracy")
                    log(f"[round {r + 1}/{args.rounds}] {w} {e['label']}: {_fmt(res['value'], res['unit'])} "
                        f"{res['unit']}" + (f", test accuracy {acc:.4f}" if acc is not None else "")
                        + f", peak RSS {res['rss_mib']['peak']:.0f} MiB, process {res['wall_s']:.1f} s")

    # versions and BLAS of each entry, from its first successful run
    versions, threadpools, extras = {}, {}, {}
    for e in entries:
        first = next((x["result"] for x in runs if x["entry"] == e["id"] and "error" not in x["result"]), None)
        if first:
            for k, v in first.get("versions", {}).items():
                versions[k if k != "numpy" else f"numpy ({e['env']} env)"] = v
            threadpools[e["id"]] = first.get("threadpools")
            extras[e["id"]] = {k: first[k] for k in ("torch_threads", "torch_parallel_info", "xla_flags", "devices",
                                                     "fused", "fit_accepts_engine", "engine") if k in first}
    if ceilings:
        threadpools["ceiling"] = ceilings[0].get("threadpools")
    report = {
        "date": _now(), "machine": machine(), "git": git_state(), "deltaprop": probe,
        "config": {"quick": args.quick, "rounds": args.rounds, "threads": args.threads, "workloads": workloads,
                   "openblas_coretype": args.openblas_coretype,
                   "tools": tools, "engines": engines,
                   "epochs": {w: (args.epochs or (QUICK_EPOCHS[w] if args.quick else common.WORKLOADS[w]["epochs"]))
                              for w in workloads if w != "W3"}},
        "workloads": {w: common.WORKLOADS[w] for w in workloads},
        "entries": entries, "versions": versions, "threadpools": threadpools, "tool_details": extras,
        "environments": {k: {kk: vv for kk, vv in v.items() if kk != "key"} for k, v in envs.items()},
        "summary": summarise(runs, ceilings, entries, workloads),
        "runs": [{**x, "result": {k: v for k, v in x["result"].items() if k not in ("threadpools", "torch_parallel_info")}}
                 for x in runs],
        "raw_dir": str(raw.relative_to(ROOT)),
        "numba_prime_s": prime_s,
        "openblas_env": _openblas_env(),
        "openblas_env_inherited": inherited,
    }
    report["targets"] = targets(report)
    report["elapsed_s"] = time.perf_counter() - started
    RESULTS.mkdir(exist_ok=True)
    json_path = RESULTS / f"{args.name}.json"
    json_path.write_text(json.dumps(report, indent=1, default=str))
    md_path = RESULTS / f"{args.name}.md"
    md_path.write_text(markdown(report))
    log(f"[bench] wrote {json_path.relative_to(ROOT)} and {md_path.relative_to(ROOT)}")
    if args.plot:
        png = RESULTS / f"{args.name}.png"
        subprocess.run([str(env_python("deltaprop")), str(BENCH / "plot.py"), str(json_path), str(png)], check=True)
        log(f"[bench] wrote {png.relative_to(ROOT)}")
    print(md_path.read_text())
    failed = [x for x in runs if "error" in x["result"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
