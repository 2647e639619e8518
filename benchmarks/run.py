#!/usr/bin/env python3
"""deltaprop's benchmark suite: W1-W4 in deltaprop, PyTorch, JAX and scikit-learn.

    python3 benchmarks/run.py [--quick] [--workloads W1,W2,W3,W4] [--tools ...] [--rounds N] [--plot]

(``make bench BENCH_ARGS="..."`` runs this.) Standard library only: it creates each
tool's virtual environment under benchmarks/.venvs/ if missing, runs every tool in its
own process, interleaved tool by tool in each round (the starting tool rotates from
round to round), measures the NumPy matrix-product ceiling in each round and, for W1-W3,
the numba engine's compile time with an empty numba cache (a fresh install), and writes
benchmarks/results/latest.json and latest.md (and latest.png with --plot). A (tool,
workload) pair in workloads.NOT_RUN (scikit-learn and W4) is skipped and reported as
"not run" with its reason.
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
import tempfile
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
ALL_WORKLOADS = ("W1", "W2", "W3", "W4")
#: --quick: W1 and W2 fewer epochs; W4 a fraction of one epoch (40 full steps of 256 of its
#: 234), timed as those steps and reported per step (ms/step), never extrapolated to an epoch.
QUICK = {"W1": {"epochs": 2}, "W2": {"epochs": 1}, "W4": {"steps": 40}}
#: The workloads whose first-run compile time with an empty numba cache is measured (the issue's).
FRESH_COMPILE_WORKLOADS = ("W1", "W2", "W3")


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


def run_length(w: str, args) -> dict:
    """One timed run of workload ``w``: ``{"epochs": E}`` or, W4 under --quick, ``{"steps": S}``; W3: ``{}``."""
    if w == "W3":
        return {}
    if args.epochs:
        return {"epochs": args.epochs}
    if args.quick:
        return dict(QUICK[w])
    import workloads as wls
    return {"epochs": wls.WORKLOADS[w]["epochs"]}


def length_args(length: dict) -> list[str]:
    return [a for k, v in length.items() for a in (f"--{k}", str(v))]


def prime_numba(workloads: list[str], raw: Path, threads: int, timeout: float, env: str = "deltaprop") -> dict:
    """Compile the numba engine's kernels into numba's on-disk cache once, untimed: a user
    pays that once per install (and CPU), not per run, and a timed process that compiled
    would also count the compiler's memory in its peak. Returns seconds per workload."""
    spent = {}
    for w in workloads:
        cmd = [str(env_python(env)), TOOLS["deltaprop"]["script"], "--workload", w, "--engine", "numba"]
        if w == "W4":
            cmd += ["--steps", "2", "--warmup-steps", "1"]     # the same kernels as a whole epoch, for less
        elif w != "W3":
            cmd += ["--epochs", "1"]
        t = time.perf_counter()
        res = run_process(cmd, raw / f"prime-{env}-{w}.json", threads, timeout)
        spent[w] = time.perf_counter() - t
        log(f"[setup] numba cache of {env} for {w}: {spent[w]:.1f} s"
            + (f" (FAILED: {res['error']})" if "error" in res else ""))
    return spent


def fresh_compile(w: str, r: int, raw: Path, threads: int, timeout: float) -> dict:
    """The numba engine's first fit with an EMPTY numba cache, as on a fresh install: the
    deltaprop tool with ``--startup-only`` in a process whose ``NUMBA_CACHE_DIR`` is a new
    empty folder (numba then reads and writes only there; the filled cache the timed runs
    use is left alone). Its ``startup_s`` (the first fit's time minus the same fit
    repeated) is the compile time; ``cache_files_written`` shows the kernels really were
    compiled into the empty folder."""
    tmp = tempfile.mkdtemp(prefix="deltaprop-bench-numba-")
    try:
        cmd = [str(env_python("deltaprop")), TOOLS["deltaprop"]["script"], "--workload", w, "--seed", str(r),
               "--engine", "numba", "--startup-only"]
        res = run_process(cmd, raw / f"r{r}-{w}-fresh-numba-cache.json", threads, timeout,
                          extra_env={"NUMBA_CACHE_DIR": tmp})
        res["cache_files_written"] = sum(len(files) for _, _, files in os.walk(tmp))
        if "error" not in res and not res["cache_files_written"]:
            res["error"] = "nothing was written to the empty NUMBA_CACHE_DIR: the kernels were not compiled there"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


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


def run_process(cmd: list[str], out: Path, threads: int, timeout: float, extra_env: dict | None = None) -> dict:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd + ["--out", str(out)], env={**child_env(threads), **(extra_env or {})},
                              capture_output=True, text=True, timeout=timeout, cwd=BENCH, preexec_fn=_pin(threads))
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


def _stats(xs) -> dict | None:
    """``{"per_round", "median", "min", "max"}`` of per-round values (None: there are none)."""
    xs = [x for x in xs if x is not None]
    return {"per_round": xs, "median": statistics.median(xs), "min": min(xs), "max": max(xs)} if xs else None


def _ceiling_value(c: dict, w: str, unit: str) -> float | None:
    """One round's ceiling for workload ``w`` in the rows' unit: per epoch or per update as
    ceiling.py gives it, or per full mini-batch step (ms/step) for runs timed in steps."""
    cw = c.get("workloads", {}).get(w)
    if not cw:
        return None
    if unit == "ms/step":
        import workloads as wls
        step = cw["per_batch"].get(str(wls.WORKLOADS[w]["batch"]))
        return step["step_best_s"] * 1e3 if step else None
    return cw["value"]


def summarise(runs: list[dict], ceilings: list[dict], entries: list[dict], workloads: list[str],
              not_run: dict | None = None, fresh: list[dict] | None = None) -> dict:
    """Per workload: each entry's medians over the rounds, the ceiling (the median of its
    rounds), deltaprop's ratios to each peer (ratios of medians, and round by round), and the
    empty-cache compile runs. ``not_run``: ``{(entry id, workload): reason}``."""
    not_run, fresh = not_run or {}, fresh or []
    summary = {}
    for w in workloads:
        rows = {}
        for e in entries:
            if (e["id"], w) in not_run:
                rows[e["id"]] = {"label": e["label"], "not_run": not_run[e["id"], w], "errors": []}
                continue
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
                "epochs": ok[0].get("epochs"), "steps": ok[0].get("steps"), "updates": ok[0].get("updates"),
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
                "warmup_steps": ok[0].get("warmup_steps"),
                # deltaprop: the first fit's time minus the same fit repeated (numba's cache filled)
                "startup_s": _median([r.get("startup_s") for r in ok]),
                "compile_s": _median([r.get("compile_s") for r in ok]),
                "import_s": _median([r["phases_s"].get("import") for r in ok]),
                "data_s": _median([r["phases_s"].get("data") for r in ok]),
                "process_wall_s": _median([r.get("wall_s") for r in ok]),
                "errors": errors,
            }
        unit = next((r["unit"] for r in rows.values() if r.get("unit")), "us/update" if w == "W3" else "s/epoch")
        # The ceiling: each round's is the least time its matrix products need (ceiling.py);
        # compared with the entries' medians, the median of those rounds (medians with medians).
        c_round = {c["round"]: v for c in ceilings if (v := _ceiling_value(c, w, unit)) is not None}
        cvals = [c_round[r] for r in sorted(c_round)]
        ceil = statistics.median(cvals) if cvals else None
        for eid, row in rows.items():
            if ceil and row.get("median"):
                row["ceiling_fraction"] = ceil / row["median"]
                mine = _by_round(runs, eid, w)
                row["ceiling_fraction_rounds"] = _stats([c_round[r] / mine[r] for r in sorted(mine) if r in c_round])
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
                paired[d["id"]][p["id"]] = _stats([mine[r] / theirs[r] for r in sorted(mine) if theirs.get(r)])
        fr = [x for x in fresh if x["workload"] == w]
        fresh_ok = [x["result"] for x in fr if "error" not in x["result"]]
        fresh_summary = ({**(_stats([x.get("startup_s") for x in fresh_ok]) or {}),
                          "warmup_s": [x.get("warmup_s") for x in fresh_ok],
                          "repeat_s": [x.get("repeat_s") for x in fresh_ok],
                          "cache_files_written": [x.get("cache_files_written") for x in fresh_ok],
                          "peak_rss_mib": _median([x["rss_mib"]["peak"] for x in fresh_ok]),
                          "errors": [x["result"]["error"] for x in fr if "error" in x["result"]]}
                         if fr else None)
        detail = None
        if ceil is not None:
            near = min(c_round, key=lambda r: abs(c_round[r] - ceil))
            detail = next(c["workloads"][w] for c in ceilings if c["round"] == near)
        summary[w] = {"ceiling": {"value": ceil, "unit": unit, "statistic": "median of the rounds", "per_round": cvals,
                                  "detail": detail},
                      "rows": rows, "ratios": ratios, "paired_ratios": paired, "fresh_compile": fresh_summary}
    return summary


def _spread(s: dict, d: str, peer: str, digits: int, dash: str) -> str:
    """' (least-greatest)' of the rounds' own ratios of ``d`` to ``peer``, or '' for one round or none."""
    pr = (s.get("paired_ratios") or {}).get(d, {}).get(peer)
    return f" ({pr['min']:.{digits}f}{dash}{pr['max']:.{digits}f})" if pr and len(pr["per_round"]) > 1 else ""


def _rounds(st: dict | None, fmt: str, suffix: str = "") -> str:
    """' (rounds least-greatest)' of per-round values (``_stats``), or '' for one round or none."""
    if not st or len(st["per_round"]) < 2:
        return ""
    return f" (rounds {format(st['min'], fmt)}-{format(st['max'], fmt)}{suffix})"


def _openblas_env() -> dict:
    return {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}


def _by_round(runs: list[dict], entry: str, w: str, key: str = "value", sub: str | None = None) -> dict:
    """{round: result[key]} (or result[key][sub]) of one entry's successful runs of workload ``w``
    (rounds where it is missing, or zero, left out)."""
    out = {}
    for r in runs:
        res = r["result"]
        if r["entry"] != entry or r["workload"] != w or "error" in res:
            continue
        v = res.get(key)
        if sub is not None:
            v = (v or {}).get(sub)
        if v:
            out[r["round"]] = v
    return out


def _ratio(s, d, peer):
    return s["ratios"].get(d, {}).get(peer)


def targets(report: dict) -> list[dict]:
    """The issue's targets for deltaprop's default engine (numba: the column deltaprop-numba),
    each evaluated on this run's medians, with the spread of the rounds' own values
    (holds None: not measured or not checked)."""
    summ, quick, runs = report["summary"], report["config"]["quick"], report.get("runs", [])
    ids = [e["id"] for e in report["entries"] if e["tool"] == "deltaprop"]
    d = "deltaprop-numba" if "deltaprop-numba" in ids else (ids[0] if ids else None)
    labels = {e["id"]: e["label"] for e in report["entries"]}
    rows = []

    def add(w, what, value, ok, shown):
        rows.append({"workload": w, "target": what, "measured": shown if value is not None else "not measured",
                     "holds": (bool(ok) if value is not None else None)})

    def per(w):
        unit = summ[w]["ceiling"]["unit"]
        return {"us/update": " (per update)", "ms/step": " (per step: --quick times steps, not epochs)"}.get(unit, "")

    def ratio_target(w, peer, limit):
        what = f"<= {limit:.1f} x {labels.get(peer, peer)}{per(w)}"
        reason = summ[w]["rows"].get(peer, {}).get("not_run")
        if reason:
            rows.append({"workload": w, "target": what, "measured": f"not run: {reason}", "holds": None})
            return
        r = _ratio(summ[w], d, peer)
        spread = _spread(summ[w], d, peer, 3, "-").replace(" (", " (rounds ")
        add(w, what, r, r is not None and r <= limit, f"{r:.3f} x{spread}" if r else "")

    def ceiling_target(w, frac):
        row = summ[w]["rows"].get(d, {})
        f = row.get("ceiling_fraction")
        add(w, f">= {frac:.0%} of the matrix-product ceiling{per(w)}", f, f is not None and f >= frac,
            f"{f:.1%}{_rounds(row.get('ceiling_fraction_rounds'), '.1%')}" if f else "")

    if "W1" in summ:
        ratio_target("W1", "jax-scan", 0.6)
        ceiling_target("W1", 0.85)
    if "W2" in summ:
        ratio_target("W2", "jax-scan", 0.9)
        ceiling_target("W2", 0.75)
        mine = summ["W2"]["rows"].get(d, {}).get("peak_rss_mib")
        theirs = summ["W2"]["rows"].get("torch", {}).get("peak_rss_mib")
        r = mine / theirs if mine and theirs else None
        m_r = _by_round(runs, d, "W2", "rss_mib", "peak")
        t_r = _by_round(runs, "torch", "W2", "rss_mib", "peak")
        st = _stats([m_r[k] / t_r[k] for k in sorted(m_r) if k in t_r])
        add("W2", "peak resident memory <= 0.6 x PyTorch's", r, r is not None and r <= 0.6,
            f"{mine:.0f} / {theirs:.0f} MiB = {r:.2f} x{_rounds(st, '.2f')}" if r else "")
    if "W3" in summ:
        ratio_target("W3", "jax-scan", 1.0)
    if "W4" in summ:
        ceiling_target("W4", 0.90)
        for peer in ("torch", "jax-step", "jax-scan"):
            ratio_target("W4", peer, 1.0)
    # Start-up, numba's cache filled: the first fit of a process minus the same fit repeated
    # in it (tool_deltaprop.py, startup_s), against JAX's ahead-of-time compile of the same
    # workload (tool_jax.py, compile_s), the lesser of its two variants.
    for w in (w for w in FRESH_COMPILE_WORKLOADS if w in summ):
        what = "start-up: the first fit in a new process (numba cache filled) adds <= JAX's compile time"
        mine = summ[w]["rows"].get(d, {}).get("startup_s")
        jax = [(p, summ[w]["rows"].get(p, {}).get("compile_s")) for p in ("jax-step", "jax-scan")]
        jax = [(p, v) for p, v in jax if v is not None]
        if mine is None or not jax:
            add(w, what, None, None, "")
            continue
        peer, ref = min(jax, key=lambda pv: pv[1])
        m_r = _by_round(runs, d, w, "startup_s")
        j_r = _by_round(runs, peer, w, "compile_s")
        st = _stats([m_r[k] / j_r[k] for k in sorted(m_r) if k in j_r])
        both = ", ".join(f"{labels[p]} {v:.2f} s" for p, v in jax)
        add(w, what, mine, mine <= ref,
            f"{mine:.2f} s vs {ref:.2f} s (the lesser of JAX's: {both}) = {mine / ref:.2f} x{_rounds(st, '.2f')}")
    # Compile on a fresh install: the same difference in a process whose numba cache is empty.
    for w in (w for w in FRESH_COMPILE_WORKLOADS if w in summ):
        fc = summ[w].get("fresh_compile") or {}
        v = fc.get("median")
        add(w, "compile on a fresh install: the first fit with an empty numba cache compiles in <= 5 s", v,
            v is not None and v <= 5.0, f"{v:.2f} s{_rounds(fc, '.2f', ' s')}" if v is not None else "")
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
    if unit in ("us/update", "ms/step"):
        return f"{x:.2f}" if unit == "ms/step" and x < 10 else f"{x:.1f}"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


#: One line per workload for the report's headings.
WHAT = {"W1": "784-30-10 sigmoid, quadratic cost, SGD lr 3.0, batch 10, float64, 50,000 images",
        "W2": "784-256-256-10 ReLU, softmax + cross-entropy, Adam lr 1e-3, batch 128, float32, 60,000 images",
        "W3": "the 2-2-2 worked example, 10,000 updates of batch 1, SGD lr 0.5, float64",
        "W4": "784-2048-2048-10 ReLU, softmax + cross-entropy, Adam lr 1e-3, batch 256, float32, 60,000 images"}


def _lengths(cfg: dict) -> str:
    """What one timed run of each workload is, e.g. 'W1 30 epochs, W3 10,000 updates, W4 40 steps'."""
    out = []
    for w in cfg["workloads"]:
        if w == "W3":
            out.append("W3 10,000 updates")
        elif (cfg.get("steps") or {}).get(w):
            out.append(f"{w} {cfg['steps'][w]} steps (timed per step)")
        else:
            e = cfg["epochs"].get(w)
            out.append(f"{w} {e} epoch{'s' if e != 1 else ''}")
    return ", ".join(out)


def markdown(report: dict) -> str:
    m, cfg = report["machine"], report["config"]
    lines = [f"# deltaprop benchmarks — {report['date'][:10]}", ""]
    mode = ("**--quick**: timing only, fewer epochs (W4: steps); the accuracies are NOT at the target epoch counts: "
            if cfg["quick"] else "full: ") + _lengths(cfg) + " per run"
    warm_w4 = report["workloads"].get("W4", {}).get("warmup_steps")
    lines += [
        f"Measured {report['date']} on {m.get('cpu_model', '?')} ({m.get('cpus_usable', m.get('cpu_count'))} "
        f"cores usable, {m.get('memory_gib', '?')} GiB), {m['platform']}, Python {m['python']}; "
        f"{cfg['threads']} threads for every tool; {cfg['rounds']} rounds, tools interleaved in each round; "
        f"{mode}. deltaprop {report['deltaprop'].get('version')} at commit "
        f"`{(report['git'].get('commit') or '?')[:10]}`" + (" (library modified)" if report['git'].get("library_dirty") else "")
        + ". Times are medians over the rounds; each run's time is one whole training run divided by its "
          "epochs (or updates, or steps), after one untimed warm-up run of the same kind"
        + (f" (W4's warm-up: {warm_w4} full steps and the epoch's short last batch, not a whole epoch)"
           if warm_w4 and "W4" in cfg["workloads"] else "") + ".", ""]
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
                if s["rows"].get(p["id"], {}).get("not_run"):
                    cells.append("not run")
                    continue
                cells.append("—" if c is None else f"{c:.2f}{_spread(s, d, p['id'], 2, '–')}")
            lines.append(f"| {w} | {d.split('-', 1)[1]} | " + " | ".join(cells) + " |")
    lines += ["", "Each cell: the ratio of the medians, and in brackets the least and greatest of the "
                  "rounds' own ratios (deltaprop's run and the peer's in the same round)."]
    for key, reason in sorted((report.get("not_run") or {}).items()):
        eid, w = key.split("|")
        if w in report["summary"]:
            lines += ["", f"{next((e['label'] for e in report['entries'] if e['id'] == eid), eid)}, {w}: "
                          f"not run: {reason}."]
    lines.append("")
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
        if any("ceiling" in t["target"] for t in tg):
            lines += ["Shares of the ceiling: the ceiling's median over its rounds ÷ deltaprop's median time "
                      "(both from this run); in brackets the rounds' own shares.", ""]
    lines += _startup_lines(report)
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
        lines += [f"## {w} \"{wl['title']}\": {WHAT.get(w, w)}", ""]
        acc_col = w != "W3"
        cols = ["tool", f"{unit} (median)", "min–max", "runs"]
        cols += ["test accuracy" if acc_col else "final E_total"]
        cols += ["peak RSS MiB", "RSS after data MiB", "warm-up run s", "first fit adds s", "compile s",
                 "ceiling ÷ time"]
        cols += [f"{d.split('-', 1)[1]} ÷ this" for d in d_ids]
        lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for eid, r in s["rows"].items():
            if r.get("not_run"):
                lines.append(f"| {r['label']} | not run: {r['not_run']} |" + " |" * (len(cols) - 2))
                continue
            if "median" not in r:
                lines.append(f"| {r['label']} | failed: {(r['errors'] or ['?'])[0].splitlines()[0][:80]} |" + " |" * (len(cols) - 2))
                continue
            if acc_col:
                acc = r["test_accuracy_median"]
                extra = ((f" ({r['steps']} steps)" if r.get("steps") else f" ({r['epochs']} ep.)")
                         if cfg["quick"] or r.get("steps") else "")
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
                     "—" if r.get("startup_s") is None else f"{r['startup_s']:.2f}",
                     "—" if r["compile_s"] is None else f"{r['compile_s']:.2f}",
                     "—" if r.get("ceiling_fraction") is None else f"{r['ceiling_fraction']:.2f}"]
            cells += ["—" if s["ratios"][d].get(eid) is None else f"{s['ratios'][d][eid]:.2f}" if eid != d else "1"
                      for d in d_ids]
            lines.append("| " + " | ".join(cells) + " |")
        c = s["ceiling"]
        if c["value"] is not None:
            per_round = ", ".join(_fmt(v, unit) for v in c["per_round"])
            lines += ["", "Ceiling (NumPy matrix products only, at this workload's shapes and batch size"
                          + (", one full step" if unit == "ms/step" else "")
                          + f"; each round's is the least time the BLAS needed): **{_fmt(c['value'], unit)} {unit}**, "
                          f"the median of {len(c['per_round'])} round{'s' if len(c['per_round']) != 1 else ''} "
                          f"({per_round}). \"First fit adds\": deltaprop's first fit in the process minus the same "
                          "fit repeated (numba's cache filled)."]
        lines.append("")
    lines += ["## Set-up", "", "| environment | install s (when created) | created |", "|---|---|---|"]
    for env, st in report["environments"].items():
        lines.append(f"| {env} | {st.get('setup_s', 0):.0f} | {st.get('date', '?')[:19]} |")
    lines += ["", f"The whole run took {report['elapsed_s'] / 60:.1f} minutes (set-up included).", ""]
    if cfg["quick"]:
        lines += ["Accuracies above are after the few epochs (W4: steps) of a --quick run, not after W1's 30 or "
                  "W2's 5 (or W4's 1).", ""]
    return "\n".join(lines)


def _startup_lines(report: dict) -> list[str]:
    """The start-up table: what deltaprop's first fit of a process adds (numba's cache filled,
    and empty, as on a fresh install) beside JAX's compile time, for each workload measured."""
    summ = report["summary"]
    ws = [w for w in FRESH_COMPILE_WORKLOADS if w in summ]
    if not ws:
        return []
    ids = [e["id"] for e in report["entries"] if e["tool"] == "deltaprop"]
    d = "deltaprop-numba" if "deltaprop-numba" in ids else (ids[0] if ids else None)

    def cell(v, st=None):
        return "—" if v is None else f"{v:.2f}{_rounds(st, '.2f')}"

    lines = ["## Start-up and compile", "",
             f"Seconds the first fit of a process adds ({d}: its first fit minus the same fit repeated in the "
             "same process, same seed and data), with numba's cache filled (every timed run) and with an empty "
             "cache (its own process per round, NUMBA_CACHE_DIR a new empty folder: a fresh install's compile); "
             "JAX: its ahead-of-time compile of the same workload. Medians; in brackets the rounds' least and "
             "greatest.", "",
             "| workload | first fit adds, cache filled | first fit adds, empty cache (compile) | "
             "JAX jit step compile | JAX lax.scan compile |", "|---|---|---|---|---|"]
    for w in ws:
        rows, runs = summ[w]["rows"], report["runs"]
        fc = summ[w].get("fresh_compile") or {}
        cells = [cell(rows.get(d, {}).get("startup_s"), _stats(list(_by_round(runs, d, w, "startup_s").values()))),
                 cell(fc.get("median"), fc) if fc.get("median") is not None
                 else ("failed: " + fc["errors"][0].splitlines()[0][:60] if fc.get("errors") else "—")]
        for p in ("jax-step", "jax-scan"):
            cells.append(cell(rows.get(p, {}).get("compile_s"), _stats(list(_by_round(runs, p, w, "compile_s").values()))))
        lines.append(f"| {w} | " + " | ".join(cells) + " |")
    return lines + [""]


# --------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help=f"timing only: {QUICK['W1']['epochs']} epochs of W1, {QUICK['W2']['epochs']} of W2, "
                        f"{QUICK['W4']['steps']} steps of W4 timed per step (accuracy NOT at the target)")
    p.add_argument("--workloads", default=",".join(ALL_WORKLOADS))
    peers = [t for t in TOOLS if t != "deltaprop-baseline"]     # the baseline comes with --baseline COMMIT
    p.add_argument("--tools", default=",".join(peers), help=f"comma-separated, from {','.join(peers)}")
    p.add_argument("--engines", default=None,
                   help="deltaprop engines, e.g. numpy,numba (default: numpy, and numba when fit takes engine= "
                        "and numba is installed)")
    p.add_argument("--rounds", type=int, default=5,
                   help="rounds of every tool (default 5: this kind of shared 2-core machine swings by a "
                        "third from minute to minute, and 3 rounds let one slow spell set a median)")
    p.add_argument("--epochs", type=int, default=None, help="override the timed epochs of W1, W2 and W4")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-ceiling", action="store_true")
    p.add_argument("--no-fresh-compile", action="store_true",
                   help="skip the numba engine's first fit with an empty numba cache (a fresh install's compile "
                        "time, W1-W3, once per round)")
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
    runs, ceilings, fresh = [], [], []
    import workloads as common
    not_run = {(e["id"], w): common.NOT_RUN[e["tool"], w] for e in entries for w in workloads
               if (e["tool"], w) in common.NOT_RUN}
    fresh_check = "numba" in engines and not args.no_fresh_compile
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
                res["round"] = r
                ceilings.append(res)
                log(f"[round {r + 1}] ceiling: " + ", ".join(
                    f"{w} {_fmt(v['value'], v['unit'])} {v['unit']}" for w, v in res["workloads"].items()))
        for w in workloads:
            if fresh_check and w in FRESH_COMPILE_WORKLOADS:
                res = fresh_compile(w, r, raw, args.threads, args.timeout)
                fresh.append({"round": r, "workload": w, "entry": "deltaprop-numba", "result": res})
                log(f"[round {r + 1}/{args.rounds}] {w} deltaprop (numba), empty numba cache: "
                    + (f"FAILED {res['error']}" if "error" in res else
                       f"first fit {res['warmup_s']:.2f} s, repeated {res['repeat_s']:.2f} s: compile "
                       f"{res['startup_s']:.2f} s ({res['cache_files_written']} cache files written)"))
            order = entries[r % len(entries):] + entries[:r % len(entries)]
            for e in order:
                if (e["id"], w) in not_run:
                    if r == 0:
                        log(f"[bench] {w} {e['label']}: not run: {not_run[e['id'], w]}")
                    continue
                cmd = [str(env_python(e["env"])), TOOLS[e["tool"]]["script"], "--workload", w, "--seed", str(r),
                       *e["args"], *length_args(run_length(w, args))]
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
                   "epochs": {w: run_length(w, args).get("epochs") for w in workloads if w != "W3"},
                   "steps": {w: run_length(w, args)["steps"] for w in workloads if "steps" in run_length(w, args)},
                   "fresh_compile": fresh_check},
        "workloads": {w: common.WORKLOADS[w] for w in workloads},
        "entries": entries, "versions": versions, "threadpools": threadpools, "tool_details": extras,
        "environments": {k: {kk: vv for kk, vv in v.items() if kk != "key"} for k, v in envs.items()},
        "summary": summarise(runs, ceilings, entries, workloads, not_run, fresh),
        "not_run": {f"{eid}|{w}": reason for (eid, w), reason in not_run.items() if w in workloads},
        "runs": [{**x, "result": {k: v for k, v in x["result"].items() if k not in ("threadpools", "torch_parallel_info")}}
                 for x in runs],
        "fresh_compile_runs": [{**x, "result": {k: v for k, v in x["result"].items() if k != "threadpools"}}
                               for x in fresh],
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
