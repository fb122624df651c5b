#!/usr/bin/env python3
"""Combines what `drain-bench --json` and `pipeline-bench` wrote into one report.

Usage: report.py OUT_DIR
Reads OUT_DIR/pipeline.json and OUT_DIR/drain-<codec>-<run>.json (median over runs per codec) and
writes OUT_DIR/bench.json, OUT_DIR/bench.md (the table the README shows) and OUT_DIR/bench.png
(throughput per system per scenario, log scale; latency distribution per offered load), and prints
the table. Figures are only ever copied from the measurement files, never computed from targets.
"""
import glob
import json
import os
import statistics
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def fmt_rate(v):
    return "–" if v is None else f"{v:,.0f}"


def fmt_mb(v):
    return "–" if v is None else f"{v:.1f} MB"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "target/bench"
    pipeline = load(os.path.join(out, "pipeline.json")) if os.path.exists(os.path.join(out, "pipeline.json")) else None
    drains = {}
    for path in sorted(glob.glob(os.path.join(out, "drain-*.json"))):
        codec = os.path.basename(path)[len("drain-"):].rsplit("-", 1)[0]
        drains.setdefault(codec, []).append(load(path))

    rows = []  # (scenario, system, rows/s, ratio text, peak RSS MB)
    bars = []  # (scenario, system, rows/s)
    for codec, runs in drains.items():
        n = len(runs)
        med = lambda k: statistics.median(r[k] for r in runs)
        recv = med("pg_recvlogical_rows_per_s")
        wal = med("walcast_rows_per_s")
        rss = max(r["walcast_peak_rss_mb"] for r in runs)
        cpu_w = med("walcast_cpu_s")
        cpu_b = med("broker_cpu_s")
        secs = med("walcast_seconds")
        scen = f"WAL → Kafka, {runs[0]['rows']:,} rows, compression {codec} (median of {n})"
        rows.append((scen, "pg_recvlogical → /dev/null (ceiling)", recv, "1.00×", None))
        rows.append((scen, "walcast source → tansu (acked)", wal,
                     f"{wal / recv:.2f}× pg_recvlogical; CPU walcast {cpu_w / secs:.0%}, broker {cpu_b / secs:.0%} of one core", rss))
        bars.append((f"WAL→Kafka\n({codec})", "pg_recvlogical", recv))
        bars.append((f"WAL→Kafka\n({codec})", "walcast", wal))
        dbz = [r["debezium"] for r in runs if r.get("debezium")]
        if dbz:
            d_rate = statistics.median(d["rows_per_s"] for d in dbz)
            after = [d["rows_per_s_after_first_event"] for d in dbz if d.get("rows_per_s_after_first_event")]
            after_text = f"; {statistics.median(after):,.0f} rows/s after its first event" if after else ""
            d_secs = statistics.median(d["seconds"] for d in dbz)
            d_cpu = statistics.median(d["cpu_s"] for d in dbz)
            b_cpu = [d["broker_cpu_s"] for d in dbz if d.get("broker_cpu_s") is not None]
            after_text += f"; CPU JVM {d_cpu / d_secs:.0%}" + (f", broker {statistics.median(b_cpu) / d_secs:.0%}" if b_cpu else "") + " of one core"
            rows.append((scen, f"Debezium 3.6.3 embedded + Java producer (compression {dbz[0]['compression']}), "
                               f"from JVM start to the last ack (median of {len(dbz)})", d_rate,
                         f"walcast {wal / d_rate:.1f}× Debezium{after_text}",
                         max(d["peak_rss_mb"] for d in dbz)))
            bars.append((f"WAL→Kafka\n({codec})", "Debezium 3.6.3", d_rate))

    latency = []
    if pipeline:
        k = pipeline["kafka_to_results"]
        scen = f"Kafka → results, {pipeline['rows']:,} events"
        copy = k["copy_ceiling_rows_per_s"]
        n_copy = len(k.get("copy_ceiling_runs_rows_per_s") or [copy])
        copy_label = "COPY of the enriched rows (write ceiling)"
        if n_copy > 1:
            copy_label += f", median of {n_copy}, each right before a walcast run"
        rows.append((scen, copy_label, copy, "1.00×", None))
        rows.append((scen, f"walcast results sink (median of {len(k['walcast_runs_s'])})", k["walcast_rows_per_s"],
                     f"{k['walcast_rows_per_s'] / copy:.2f}× COPY", k["walcast_peak_rss_mb"]))
        bars.append(("Kafka→results", "COPY ceiling", copy))
        bars.append(("Kafka→results", "walcast", k["walcast_rows_per_s"]))
        if k.get("seed_consumer_rows_per_s"):
            s = k["seed_consumer_rows_per_s"]
            rows.append((scen, f"seed Python consumer ({k['seed_consumer_rows']:,} events)", s,
                         f"walcast {k['walcast_rows_per_s'] / s:.0f}× faster", None))
            bars.append(("Kafka→results", "seed consumer", s))
        w = pipeline.get("wal_to_results")
        if w:
            rows.append((f"WAL → results, {pipeline['rows']:,} rows", "walcast (source + results sink + Redis cache sink)",
                         w["walcast_rows_per_s"], f"CPU {w['cpu_s'] / w['seconds']:.0%} of one core", w["peak_rss_mb"]))
            bars.append(("WAL→results", "walcast", w["walcast_rows_per_s"]))
        b = pipeline.get("big")
        if b:
            scen = f"snapshot of {b['rows']:,} rows"
            rows.append((scen, "COPY (SELECT * FROM orders) TO STDOUT, one connection (read ceiling)",
                         b["copy_to_stdout_rows_per_s"], "1.00×", None))
            rows.append((scen, "walcast snapshot → tansu (acked)", b["snapshot_rows_per_s"],
                         f"{b['snapshot_rows_per_s'] / b['copy_to_stdout_rows_per_s']:.2f}× COPY TO", b["snapshot_peak_rss_mb"]))
            d = pipeline.get("debezium_snapshot")
            if d and d.get("error"):
                rows.append((scen, "Debezium 3.6.3 embedded + Java producer → tansu", None, f"did not finish: {d['error']}", None))
            elif d:
                rows.append((scen, "Debezium 3.6.3 embedded + Java producer → tansu (acked, from JVM start)", d["rows_per_s"],
                             f"walcast {d['walcast_over_debezium']:.1f}× Debezium", d["peak_rss_mb"]))
                bars.append(("snapshot", "Debezium 3.6.3", d["rows_per_s"]))
            rows.append((f"one {b['rows']:,}-row transaction", "walcast source: slot → tansu (acked)", b["one_tx_rows_per_s"],
                         f"did not finish: {b['one_tx_error']}" if b.get("one_tx_error") else "", b["one_tx_peak_rss_mb"]))
            bars.append(("snapshot", "COPY TO STDOUT", b["copy_to_stdout_rows_per_s"]))
            bars.append(("snapshot", "walcast", b["snapshot_rows_per_s"]))
            if b["one_tx_rows_per_s"]:
                bars.append(("1 big tx", "walcast", b["one_tx_rows_per_s"]))
        latency = pipeline.get("latency") or []

    md = []
    machine = pipeline["machine"] if pipeline else ""
    durability = {
        "durable": "the results database with PostgreSQL's default durability (fsync, synchronous_commit and full_page_writes on)",
        "fast": "the results database with fsync, synchronous_commit and full_page_writes off",
    }.get((pipeline or {}).get("results_db", "fast"), "")
    md.append(f"Machine: {machine}; PostgreSQL, Redis and tansu (in memory) on the same machine; {durability}.\n")
    md.append("| scenario | system | rows/s | compared | peak RSS |")
    md.append("|---|---|---:|---|---:|")
    for scen, system, rate, ratio, rss in rows:
        md.append(f"| {scen} | {system} | {fmt_rate(rate)} | {ratio} | {fmt_mb(rss)} |")
    if latency:
        md.append("")
        md.append("| offered load | achieved | source commit → results row p50 / p99 / max | source commit → Kafka consumer p50 / p99 / max |")
        md.append("|---:|---:|---|---|")
        for l in latency:
            r, kf = l["to_results"], l["to_kafka_consumer"]
            md.append(f"| {l['offered_rows_per_s']:,} rows/s | {l['achieved_rows_per_s']:,.0f} rows/s | "
                      f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f} / {r['max_ms']:.0f} ms | "
                      f"{kf['p50_ms']:.0f} / {kf['p99_ms']:.0f} / {kf['max_ms']:.0f} ms |")
        if pipeline.get("latency_peak_rss_mb") is not None:
            md.append(f"\nPeak RSS of the worker during the latency runs (source + both sinks): "
                      f"{pipeline['latency_peak_rss_mb']:.1f} MB")
    md.append(f"\n![throughput and latency]({os.path.join(out, 'bench.png')})")
    text = "\n".join(md) + "\n"
    with open(os.path.join(out, "bench.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump({"machine": machine, "drain": drains, "pipeline": pipeline,
                   "table": [dict(zip(["scenario", "system", "rows_per_s", "compared", "peak_rss_mb"], r)) for r in rows]},
                  f, indent=2)
    print(text)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2 if latency else 1, figsize=(15 if latency else 10, 5.5), squeeze=False)
    ax = axes[0][0]
    scenarios = list(dict.fromkeys(s for s, _, _ in bars))
    systems = list(dict.fromkeys(n for _, n, _ in bars))
    width = 0.8 / max(1, len(systems))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, system in enumerate(systems):
        xs, ys = [], []
        for j, scen in enumerate(scenarios):
            for s, n, v in bars:
                if s == scen and n == system:
                    xs.append(j + (i - (len(systems) - 1) / 2) * width)
                    ys.append(v)
        bars_drawn = ax.bar(xs, ys, width, label=system, color=colors[i % len(colors)])
        for rect, v in zip(bars_drawn, ys):
            ax.annotate(f"{v / 1000:,.0f}k" if v >= 1000 else f"{v:,.0f}", (rect.get_x() + rect.get_width() / 2, v),
                        ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(scenarios)))
    ax.set_xticklabels(scenarios, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("rows/s (log scale)")
    ax.set_title("Throughput per system per scenario")
    ax.legend(fontsize=8)
    if latency:
        ax = axes[0][1]
        for i, l in enumerate(latency):
            q = list(range(101))
            c = colors[i % len(colors)]
            ax.plot(l["to_results"]["percentiles_ms"], q, color=c,
                    label=f"{l['offered_rows_per_s']:,} rows/s → results")
            ax.plot(l["to_kafka_consumer"]["percentiles_ms"], q, color=c, linestyle="--",
                    label=f"{l['offered_rows_per_s']:,} rows/s → Kafka consumer")
        ax.set_xscale("log")
        ax.set_xlabel("ms after the source commit (log scale)")
        ax.set_ylabel("percentile of rows")
        ax.set_title("Latency distribution")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"walcast bench — {machine}", fontsize=9)
    fig.tight_layout()
    png = os.path.join(out, "bench.png")
    fig.savefig(png, dpi=110)
    print(f"reports: {os.path.join(out, 'bench.md')}, {os.path.join(out, 'bench.json')}, {png}")


if __name__ == "__main__":
    main()
