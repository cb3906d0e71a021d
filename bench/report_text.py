"""report_text: the Markdown of docs/BENCHMARKS.md, from report.py's data.

Every number is computed here from the collected results; the prose around
the numbers explains how each was produced. Nothing is typed in by hand.
"""

import statistics
import report_notes as notes

ENGINES = ["mutex", "queue", "unsafe"]
SAFE_ENGINES = ["mutex", "queue"]
SERVERS = ["floor", "mutex", "queue", "unsafe"]
ACCOUNT_SETS = [("hot", 1, "one hot account"),
                ("10000", 10000, "10,000 accounts")]
MIXES = [("deposit_withdraw", "deposit/withdraw"), ("transfer", "transfer")]
THREADS = [1, 2, 4, 8, 16]
CONCURRENCIES = [1, 16, 64, 256]


def fmt(value, digits=1, none="n/a"):
    if value is None:
        return none
    return f"{value:,.{digits}f}"


def verdict(met):
    return "**met**" if met else "**missed**"


def find_run(data, server, accounts, concurrency, table="runs"):
    for run in data[table]:
        if (run["server"], run["accounts"], run["concurrency"]) == (
                server, accounts, concurrency) and run["ok"]:
            return run
    return None


def engine_ops(data, engine, set_name, mix, threads):
    row = data["engine"].get((engine, set_name, mix, threads))
    return None if row is None else row["ops"]


def cpu_ns(data, engine, set_name, mix, threads):
    row = data["engine"].get((engine, set_name, mix, threads))
    return None if row is None else row["cpu_ns_per_op"]


def machine_section(data):
    m = data["machine"]
    pinned = ("server on CPU 0, every client on CPU 1 (`taskset`)"
              if m.get("pinned") == "true" else "not pinned (fewer than 2 CPUs)")
    rows = [("CPU", f"{m.get('cpu_model')} ({m.get('cpus')} CPUs)"),
            ("Kernel", m.get("kernel")), ("Compiler", m.get("compiler")),
            ("Build", "CMake Release (-O3), Debian 12 packages of gRPC 1.51,"
                      " Protobuf 3.21, Abseil 20220623, Benchmark 1.7"),
            ("Date", m.get("date")), ("Commit", f"`{m.get('commit')}`"),
            ("Pinning (end to end)", pinned),
            ("Load average (1, 5, 15 min)",
             f"{m.get('load_start', '?')} at the start, "
             f"{m.get('load_end', '?')} at the end: anything above 0 is "
             "other work sharing the machine, which shows in wall-clock "
             "figures far more than in CPU time per operation")]
    lines = ["## The machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    if m.get("quick") == "true":
        lines += ["", "**This is a --quick trial run: durations are too short "
                      "for the figures to mean much.**"]
    return lines


def target_rows(data):
    """Answers (target, measured, met, category) rows for the targets of
    issue 5; the category picks the paragraph that explains a miss."""
    limits = data["limits"]
    rows = []
    queue_one = engine_ops(data, "queue", "hot", "deposit_withdraw", 1)
    queue_cpu = cpu_ns(data, "queue", "hot", "deposit_withdraw", 1)
    rows.append((
        f"queue engine, 1 producer, one hot account: >= "
        f"{limits['queue_ops_min'] / 1e6:.0f} M ops/s",
        f"{fmt(queue_one and queue_one / 1e6, 2)} M ops/s wall clock "
        f"({fmt(queue_one and queue_one / limits['queue_ops_min'], 2)} x the "
        f"target); {fmt(queue_cpu, 0)} ns of CPU per op, producer and "
        f"consumer together (= {fmt(queue_cpu and 1e3 / queue_cpu, 1)} M ops "
        f"per CPU-second)", queue_one is not None and
        queue_one >= limits["queue_ops_min"], "queue_one"))
    for mix, mix_title in MIXES:
        ratios = []
        for threads in THREADS[1:]:
            queue = engine_ops(data, "queue", "hot", mix, threads)
            mutex = engine_ops(data, "mutex", "hot", mix, threads)
            if queue and mutex:
                ratios.append((threads, queue / mutex))
        worst = min(ratios, key=lambda r: r[1]) if ratios else None
        rows.append((
            f"queue >= mutex with 2-16 producers, one hot account, "
            f"{mix_title}",
            "queue/mutex = " + ", ".join(f"{r:.2f} ({t} thr)"
                                         for t, r in ratios),
            worst is not None and worst[1] >= 1.0, "queue_vs_mutex"))
    rows += e2e_target_rows(data)
    rows += client_target_rows(data)
    for entry in data["memory"]:
        rows.append((
            f"{entry['engine']}: RSS per open account <= "
            f"{limits['account_bytes_max']} bytes",
            f"{entry['bytes_per_account']:.0f} bytes "
            f"({entry['bytes_per_account'] / limits['account_bytes_max']:.2f}"
            f" x the target)",
            entry["bytes_per_account"] <= limits["account_bytes_max"],
            "memory"))
    return rows


def e2e_target_rows(data):
    limits = data["limits"]
    concurrency = limits["concurrency"]
    rows = []
    for set_name, accounts, set_title in ACCOUNT_SETS:
        floor = find_run(data, "floor", accounts, concurrency)
        for engine in SAFE_ENGINES:
            run = find_run(data, engine, accounts, concurrency)
            if floor is None or run is None:
                rows.append((f"{engine}, {set_title}, concurrency "
                             f"{concurrency}", "no data", False, "e2e_rps"))
                continue
            rps_ratio = run["rps"] / floor["rps"]
            cpu_ratio = run["server_cpu_us"] / floor["server_cpu_us"]
            rows.append((
                f"{engine}, {set_title}, concurrency {concurrency}: RPS >= "
                f"{limits['rps_ratio_min']} x floor",
                f"{fmt(run['rps'], 0)} vs {fmt(floor['rps'], 0)} RPS = "
                f"{rps_ratio:.2f} x", rps_ratio >= limits["rps_ratio_min"],
                "e2e_rps"))
            rows.append((
                f"{engine}, {set_title}, concurrency {concurrency}: server "
                f"CPU/RPC <= {limits['cpu_ratio_max']} x floor",
                f"{run['server_cpu_us']:.1f} vs {floor['server_cpu_us']:.1f} "
                f"us = {cpu_ratio:.2f} x", cpu_ratio <= limits["cpu_ratio_max"],
                "e2e_cpu"))
    return rows


def client_target_rows(data):
    rows = []
    for concurrency in (64, 256):
        by_client = {c["client"]: c for c in data["clients"]
                     if c["concurrency"] == concurrency and c["ok"]}
        loadgen, plain = by_client.get("loadgen"), by_client.get("closed_loop")
        if loadgen is None or plain is None:
            rows.append((f"bank_loadgen vs plain client, concurrency "
                         f"{concurrency}", "no data", False, "client"))
            continue
        ratio = loadgen["rps"] / plain["rps"]
        rows.append((
            f"bank_loadgen drives the floor at least as hard as a plain "
            f"closed-loop client (concurrency {concurrency})",
            f"{fmt(loadgen['rps'], 0)} vs {fmt(plain['rps'], 0)} RPS = "
            f"{ratio:.2f} x; loadgen CPU {loadgen['client_cpu_us']:.1f} us/RPC"
            f" vs {plain['client_cpu_us']:.1f}", ratio >= 1.0, "client"))
    return rows


def targets_section(data):
    rows = target_rows(data)
    met = sum(1 for row in rows if row[2])
    lines = ["## Targets of issue 5", "",
             f"{met} of {len(rows)} met in this run. Ratios compare figures "
             "measured side by side in this same run.", "",
             "| Target | Measured | |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {verdict(ok)} |" for t, m, ok, _ in rows]
    return lines + [""] + notes.targets_discussion(rows, data)


def engine_section(data):
    rejected = sum(row.get("rejected") or 0
                   for row in data["engine"].values())
    lines = ["## In-process engines (`engine_bench`)", "",
             notes.ENGINE_METHOD, "",
             f"Operations rejected for a full queue and resubmitted in this "
             f"run (medians summed over all benchmarks): {rejected:,.0f}.", "",
             "![ops/s versus producer threads](bench/engine_ops.png)", ""]
    for set_name, _, set_title in ACCOUNT_SETS:
        for mix, mix_title in MIXES:
            lines += [f"**{mix_title}, {set_title}**: million ops/s "
                      "(wall clock), the queue's mean drained batch, and "
                      "process CPU ns per operation", "",
                      "| producers | mutex | queue | unsafe | queue / mutex |"
                      " queue batch | CPU ns/op mutex | queue | unsafe |",
                      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for threads in THREADS:
                ops = {e: engine_ops(data, e, set_name, mix, threads)
                       for e in ENGINES}
                row = data["engine"].get(("queue", set_name, mix, threads), {})
                ratio = (ops["queue"] / ops["mutex"]
                         if ops["queue"] and ops["mutex"] else None)
                lines.append(
                    f"| {threads} | " + " | ".join(
                        fmt(ops[e] and ops[e] / 1e6, 2) for e in ENGINES) +
                    f" | {fmt(ratio, 2)} | {fmt(row.get('batch_mean'), 0)} | "
                    + " | ".join(fmt(cpu_ns(data, e, set_name, mix, threads), 0)
                                 for e in ENGINES) + " |")
            lines.append("")
    return lines + detection_section(data)


def detection_section(data):
    """The cost of Abseil's deadlock detection, on for every absl::Mutex in
    Debian's build unless a program turns it off."""
    lines = [notes.DETECTION_NOTE, "",
             "| engine | accounts | producers | detection off (M ops/s) | "
             "detection on (M ops/s) | on / off |",
             "|---|---|---:|---:|---:|---:|"]
    for key, on in sorted(data["engine_detection"].items()):
        engine, set_name, mix, threads = key
        off = data["engine"].get(key)
        ratio = on["ops"] / off["ops"] if off else None
        lines.append(f"| {engine} | {set_name} | {threads} | "
                     f"{fmt(off and off['ops'] / 1e6, 2)} | "
                     f"{on['ops'] / 1e6:.2f} | {fmt(ratio, 2)} |")
    return lines + [""]


def e2e_section(data):
    m = data["machine"]
    lines = ["## End to end (gRPC, `bank_loadgen`)", "",
             notes.e2e_method(m.get("load_duration_s"), m.get("warmup_s"),
                              m.get("pinned") == "true"), "",
             "![RPS versus concurrency](bench/e2e_rps.png)", "",
             "![server CPU per RPC](bench/e2e_server_cpu.png)", "",
             "![latency percentiles](bench/e2e_latency.png)", ""]
    for _, accounts, set_title in ACCOUNT_SETS:
        lines += [f"**{set_title}**", "",
                  "| server | concurrency | RPS | x floor | p50 ms | p99 ms | "
                  "p99.9 ms | server CPU us/RPC | x floor | loadgen CPU "
                  "us/RPC | CPU busy server / loadgen | verdict |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for server in SERVERS:
            for concurrency in CONCURRENCIES:
                lines.append(e2e_row(data, server, accounts, concurrency))
        lines.append("")
    return lines + notes.VERDICT_NOTE + [""]


def e2e_row(data, server, accounts, concurrency):
    run = find_run(data, server, accounts, concurrency)
    if run is None:
        return f"| {server} | {concurrency} | failed | | | | | | | | | |"
    floor = find_run(data, "floor", accounts, concurrency)
    rps_ratio = run["rps"] / floor["rps"] if floor else None
    cpu_ratio = (run["server_cpu_us"] / floor["server_cpu_us"]
                 if floor else None)
    shown_verdict = "n/a (floor)" if server == "floor" else run["verdict"]
    return (f"| {server} | {concurrency} | {fmt(run['rps'], 0)} | "
            f"{fmt(rps_ratio, 2)} | {fmt(run['p50'], 3)} | "
            f"{fmt(run['p99'], 3)} | {fmt(run['p999'], 3)} | "
            f"{fmt(run['server_cpu_us'], 1)} | {fmt(cpu_ratio, 2)} | "
            f"{fmt(run['loadgen_cpu_us'], 1)} | "
            f"{busy_percent(run, 'server_cpu_us')} / "
            f"{busy_percent(run, 'loadgen_cpu_us')} | {shown_verdict} |")


def busy_percent(run, field):
    """How busy a process kept its CPU: RPS x CPU seconds per RPC."""
    return f"{run['rps'] * run[field] / 1e4:.0f}%"


def clients_section(data):
    lines = ["## `bank_loadgen` versus a plain closed-loop client", "",
             notes.CLIENTS_METHOD, "",
             "| client | concurrency | RPS | client CPU us/RPC | "
             "floor server CPU us/RPC |", "|---|---:|---:|---:|---:|"]
    for c in data["clients"]:
        if not c["ok"]:
            lines.append(f"| {c['client']} | {c['concurrency']} | failed | | |")
            continue
        lines.append(f"| {c['client']} | {c['concurrency']} | "
                     f"{fmt(c['rps'], 0)} | {fmt(c['client_cpu_us'], 1)} | "
                     f"{fmt(c['server_cpu_us'], 1)} |")
    return lines + [""]


def metrics_section(data):
    """--metrics_listen's cost: alternating end-to-end runs, and the
    in-process per-RPC counting."""
    runs = data["metrics"]["runs"]
    bench = data["metrics"]["bench"]
    if not runs and not bench:
        return []
    lines = ["## Metrics overhead", "", notes.METRICS_METHOD, ""]
    by_server = {}
    for run in runs:
        by_server.setdefault(run["server"], []).append(run)
    medians = {}
    if runs:
        lines += ["| bank_server | runs | median RPS | min RPS | max RPS | "
                  "load average during the runs (1 min) |",
                  "|---|---:|---:|---:|---:|---|"]
        for server, title in (("plain", "without --metrics_listen"),
                              ("metrics", "with --metrics_listen")):
            values = [r["rps"] for r in by_server.get(server, [])]
            if not values:
                continue
            medians[server] = statistics.median(values)
            loads = [float(r["load"]) for r in by_server[server]]
            lines.append(f"| {title} | {len(values)} | "
                         f"{fmt(medians[server], 0)} | {fmt(min(values), 0)} | "
                         f"{fmt(max(values), 0)} | "
                         f"{min(loads):.1f}-{max(loads):.1f} |")
        lines.append("")
    if "plain" in medians and "metrics" in medians:
        lines += [f"Ratio of the medians, with / without: "
                  f"**{medians['metrics'] / medians['plain']:.3f}** "
                  f"(target >= 0.97).", ""]
    counting = bench.get("BM_RpcMetrics/real_time/threads:1")
    clocks = bench.get("BM_TwoClockReads")
    if counting is not None:
        clock_text = (f", of which the two clock reads are {clocks:.0f} ns"
                      if clocks is not None else "")
        lines += [f"In process (`metrics_bench`, median CPU time of 5 "
                  f"repetitions): one RPC's counting costs "
                  f"**{counting:.0f} ns**{clock_text}.", ""]
    return lines


def memory_section(data):
    lines = ["## Memory", "", notes.MEMORY_METHOD, "",
             "| engine | accounts | RSS empty (MiB) | RSS full (MiB) | "
             "bytes per account | seconds to open |",
             "|---|---:|---:|---:|---:|---:|"]
    for e in data["memory"]:
        lines.append(f"| {e['engine']} | {e['accounts']:,} | "
                     f"{e['empty_mib']:.1f} | {e['full_mib']:.1f} | "
                     f"{e['bytes_per_account']:.0f} | {e['open_seconds']} |")
    return lines + [""]


def render(data):
    lines = ["# Benchmarks", "",
             "Generated by `bench/e2e.sh` (do not edit by hand: rerun it). "
             f"This run: `{data['command']}`, about {data['minutes']} minutes "
             "including the build.", "",
             notes.INTRO, ""]
    lines += machine_section(data) + [""]
    lines += targets_section(data) + [""]
    lines += engine_section(data)
    lines += e2e_section(data) + [""]
    lines += clients_section(data)
    lines += metrics_section(data)
    lines += memory_section(data)
    lines += notes.RERUN
    return "\n".join(lines) + "\n"
