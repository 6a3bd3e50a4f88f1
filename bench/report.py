"""Results out: ``bench/results/<timestamp>.json`` and ``latest.json``, a markdown table, a PNG plot."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import psutil

from bench.row import Row

__all__ = ["machine", "markdown", "plot", "write"]

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": list(os.getloadavg()),
    }


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def markdown(doc: dict[str, Any]) -> str:
    m, s = doc["machine"], doc["settings"]
    lines = [
        f"Run {doc['started_at']} — size {doc['size']:,} listens ({'quick' if doc['quick'] else 'full'}), "
        f"{m['cores']} cores, {m['memory_gb']} GB, {m['cpu']}; load average at start "
        f"{', '.join(f'{x:.1f}' for x in m['load_average_at_start'])}.",
        "",
        "Server settings: " + "; ".join(f"{k}: {v}" for k, v in s.items()) + ".",
        "",
        "| scenario | figure | unit | ceiling | ratio | target | pass | note |",
        "|---|---:|---|---:|---:|---|:---:|---|",
    ]
    for name, r in doc["scenarios"].items():
        lines.append(
            f"| {name} | {_fmt(r['figure'], 1 if (r['figure'] or 0) < 100 else 0)} | {r['unit']} | "
            f"{_fmt(r['ceiling'], 0)} | {_fmt(r['ratio'], 2)} | {r['target']} | "
            f"{'✅' if r['pass'] else '❌'} | {r['note']} |"
        )
    loadgen = [
        (n, r["details"]["ours"]) for n, r in doc["scenarios"].items() if "ours" in r.get("details", {})
    ]
    if loadgen:
        lines += ["", "Load generator (a separate process on the same cores):", ""]
        lines += [
            f"- {n}: {o['connections']} connections, {o['requests']:,} requests, p50 {o['p50_ms']:.1f} ms, "
            f"p99 {o['p99_ms']:.1f} ms, its own CPU {o['cpu_percent']:.0f}% of one core"
            for n, o in loadgen
        ]
    return "\n".join(lines) + "\n"


def plot(doc: dict[str, Any], path: Path) -> None:
    """Throughput (ours vs ceiling) and latency percentiles per scenario, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scen = doc["scenarios"]
    rate_rows = [(n, r) for n, r in scen.items() if r["figure"] and r["unit"].endswith("/s")]
    lat_rows = [(n, r["details"]["ours"]) for n, r in scen.items() if "ours" in r.get("details", {})]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    xs = range(len(rate_rows))
    a.bar([x - 0.2 for x in xs], [r["figure"] for _, r in rate_rows], 0.4, label="ours")
    a.bar([x + 0.2 for x in xs], [r["ceiling"] or 0 for _, r in rate_rows], 0.4, label="ceiling (same run)")
    a.set_xticks(list(xs), [f"{n}\n({r['unit']})" for n, r in rate_rows], fontsize=8)
    a.set_yscale("log")
    a.set_title("Throughput vs ceiling")
    a.legend()
    xs2 = range(len(lat_rows))
    for offset, key in ((-0.25, "p50_ms"), (0.0, "p90_ms"), (0.25, "p99_ms")):
        b.bar([x + offset for x in xs2], [o[key] for _, o in lat_rows], 0.25, label=key.replace("_ms", ""))
    b.set_xticks(list(xs2), [n for n, _ in lat_rows], fontsize=8)
    b.set_ylabel("ms")
    b.set_yscale("log")
    b.set_title("Request latency percentiles")
    b.legend()
    fig.suptitle(
        f"make bench, {doc['size']:,} listens, {doc['machine']['cores']} cores — {doc['started_at']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(doc: dict[str, Any], rows: dict[str, Row]) -> tuple[Path, str]:
    """Write the JSON files, the docs page and the plot; return the JSON path and the table."""
    doc = {**doc, "scenarios": msgspec.to_builtins(rows)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    data = msgspec.json.format(msgspec.json.encode(doc), indent=2)
    path = RESULTS / f"{stamp}.json"
    path.write_bytes(data)
    (RESULTS / "latest.json").write_bytes(data)
    table = markdown(doc)
    DOCS.mkdir(exist_ok=True)
    png = DOCS / "bench-latest.png"
    plot(doc, png)
    page = DOCS / "benchmarks.md"
    intro = page.read_text().split("<!-- results -->")[0] if page.exists() else "# Benchmarks\n\n"
    page.write_text(
        intro.rstrip() + "\n\n<!-- results -->\n\n" + table + f"\n![throughput and latency]({png.name})\n"
    )
    return path, table
