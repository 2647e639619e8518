"""Bar chart of deltaprop's time ÷ each peer's time, per workload (log scale; 1 = as fast).

    python benchmarks/plot.py results/latest.json results/latest.png

Run by ``run.py --plot`` in the deltaprop environment (matplotlib, the ``plot`` extra).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src: str, dst: str) -> None:
    rep = json.loads(Path(src).read_text())
    entries = rep["entries"]
    d_ids = [e["id"] for e in entries if e["tool"] == "deltaprop"]
    peers = [e for e in entries if e["tool"] != "deltaprop"]
    workloads = list(rep["summary"])
    fig, axes = plt.subplots(1, len(d_ids), figsize=(4.2 + 2.6 * len(workloads), 4.6), squeeze=False)
    width = 0.8 / max(1, len(peers))
    for ax, d in zip(axes[0], d_ids):
        for j, peer in enumerate(peers):
            xs, ys = [], []
            for i, w in enumerate(workloads):
                r = rep["summary"][w]["ratios"].get(d, {}).get(peer["id"])
                if r:
                    xs.append(i - 0.4 + width * (j + 0.5))
                    ys.append(r)
            bars = ax.bar(xs, ys, width, label=peer["label"])
            for b, y in zip(bars, ys):
                ax.annotate(f"{y:.2f}", (b.get_x() + b.get_width() / 2, y), ha="center",
                            va="bottom" if y >= 1 else "top", fontsize=7,
                            xytext=(0, 2 if y >= 1 else -2), textcoords="offset points")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels([f"{w} {rep['workloads'][w]['title']}" for w in workloads])
        ax.set_ylabel("deltaprop time ÷ peer time  (< 1: deltaprop faster)")
        ax.set_title(f"deltaprop ({d.split('-', 1)[1]} engine)")
        ax.legend(fontsize=8)
    m = rep["machine"]
    mode = "quick (timing only)" if rep["config"]["quick"] else "full"
    core = (rep.get("openblas_env") or {}).get("OPENBLAS_CORETYPE", "its own choice")
    fig.suptitle(f"{rep['date'][:10]} · {m.get('cpu_model', '?')} · {rep['config']['threads']} threads · "
                 f"{rep['config']['rounds']} rounds · {mode} · OpenBLAS kernels: {core}", fontsize=9)
    fig.tight_layout()
    fig.savefig(dst, dpi=120)


if __name__ == "__main__":
    main(*sys.argv[1:3])
