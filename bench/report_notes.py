"""report_notes: the fixed prose of docs/BENCHMARKS.md (how each figure is
produced), kept apart from the code that renders the numbers."""

INTRO = """\
Three ways to keep balances under concurrent access are compared: `mutex`
(a lock per account), `queue` (one consumer thread owns every balance and
receives operations on a bounded queue) and `unsafe` (no synchronisation,
the reference that loses updates). End to end, each is also compared with
`bank_floor_server`, the same gRPC service answering at once without any
engine: the cost of gRPC itself on this machine, in this run. The
`postgres` engine, on one and on three replicas, is measured by
`bench/postgres.sh` in [BENCHMARKS-postgres.md](BENCHMARKS-postgres.md)."""

ENGINE_METHOD = """\
How: `engine_bench` (Google Benchmark, `bench/engine_bench.cc`) creates a
fresh engine per run through `bank::CreateEngine` and opens the accounts
(1, or 2 for transfers on the hot pair, or 10,000) with a huge balance so no
operation fails. Each producer thread submits batches of 1,024 operations
through the asynchronous `AccountEngine::Execute`; a completion only counts
itself down, and each producer keeps at most two batches in flight, waiting
for every completion before the timed region ends, so ops/s counts only
completed operations. Deposit/withdraw alternate on one account (hot) or on
uniformly random accounts; transfers move 1 unit back and forth on the hot
pair, or between two random distinct accounts. Rejections for a full queue
(`RESOURCE_EXHAUSTED`) are resubmitted after a yield and counted. Abseil's deadlock detection is off (see below).
Throughput is wall-clock, median of 3 repetitions; CPU ns/op is the whole
process's CPU time (every producer and, for `queue`, the consumer) per
operation, which stays steady when other work shares the machine; the queue's mean batch is the operations per batch its
consumer drained (`QueueEngine::stats()`). Producers and the queue's
consumer share the machine's 2 CPUs, so with 2+ producers the queue's
consumer competes with them for a core."""


DETECTION_NOTE = """\
**Abseil's deadlock detection.** Debian builds Abseil without `NDEBUG`, so
unless a program calls `absl::SetMutexDeadlockDetectionMode(kIgnore)`, every
`absl::Mutex::Lock()` (the engines' and gRPC's own, which uses absl::Mutex)
also updates a process-wide lock-order graph under one global spinlock.
`engine_bench` turns it off, so the tables above are the engines' own cost;
`engine_bench --absl_deadlock_detection` keeps it on, to show what it
costs. bank_server, bank_loadgen and the floor server all turn it off first
thing in `main` (`TuneProcessForThroughput`, `service/engine/process_tuning.h`):"""


def e2e_method(duration_s, warmup_s, pinned):
    where = ("The server is pinned to CPU 0 and `bank_loadgen` to CPU 1 "
             "(`taskset -c`), so neither steals the other's core; the "
             "server's gRPC threads and, for `queue`, its consumer thread all "
             "share CPU 0." if pinned else
             "Server and client are not pinned (fewer than 2 CPUs).")
    return f"""\
How: for the floor server and each engine, `bench/e2e.sh` starts a fresh
server on 127.0.0.1 port 0 (one per account set) and runs `bank_loadgen`
against it at each concurrency for {duration_s} s after a {warmup_s} s
warmup: `--accounts=1` (default mix withdraw:50,deposit:50) or
`--accounts=10000` (withdraw:45,deposit:45,transfer:10), amounts 1-100,
`--connections=min(concurrency, 4)`, `--seed=1`. RPS and latency
percentiles are `bank_loadgen`'s JSON report (`summary.rps`,
`latency_ms`, measured RPCs only). {where}

Server CPU per RPC is the server process's utime+stime (`/proc/<pid>/stat`,
all threads, 10 ms ticks) over the whole `bank_loadgen` process, divided by
every RPC the server answered in that time: the measured and warmup RPCs,
plus the setup (one probe, one OpenAccount per account) and the read-back
(one GetBalance per account per settle read). CPU time is far steadier than
wall time on a shared machine. Loadgen CPU per RPC is `bank_loadgen`'s own
`cpu.us_per_rpc` (getrusage over the load, warmup included). CPU busy is
RPS x CPU per RPC: how much of its one CPU each side used; a side near 100%
is what limits the RPS, and when neither is, the limit is latency (or
other work on the machine).

Caveat: all servers of one account set run at once and each concurrency
visits them in turn (floor, mutex, queue, unsafe), so they are measured
side by side, seconds apart; still, on a shared machine each few-second
point carries the noise of whatever else ran meanwhile. Compare the
floor's RPS at concurrency 64 here with the floor's in the client
comparison and in the what-if table below, measured minutes apart. CPU
per RPC also falls as a server gets busier (more RPCs per wake-up), so it
is not free of that noise either."""


VERDICT_NOTE = ["""\
The verdict is `bank_loadgen`'s exact money check: `mutex` and `queue` must
PASS; `unsafe` may FAIL (lost updates) and that is its point; the floor
server keeps no balances, so its verdict means nothing and is not shown."""]

CLIENTS_METHOD = """\
How: against the floor server, `bank_loadgen --accounts=1 --mix=deposit:1`
and `bench_closed_loop` (`bench/closed_loop_client.cc`: the plainest
callback client, each of `--concurrency` slots issuing its next Deposit from
the previous one's completion, no histogram, no ledger, with the same process
setup as `bank_loadgen`: Abseil deadlock detection off, glibc keeping freed
heap) run one after the other with the same concurrency and connections,
pinned as above. Client
CPU per RPC is each client's own getrusage over its run divided by its
RPCs."""

METRICS_METHOD = """\
What `--metrics_listen` costs. How: `bench/metrics_overhead.sh` starts two
queue-engine `bank_server`s side by side, one with `--metrics_listen` and
one without, and drives them in turn with `bank_loadgen` (10,000 accounts,
concurrency 64, 4 connections, default mix), alternating which goes first,
server pinned to CPU 0 and load generator to CPU 1 as above; after each
run with metrics it scrapes `/metrics` once. The end-to-end ratio carries
the machine's noise (other work on a shared machine moves single runs by
10% and more); `metrics_bench` measures the counting itself
(`MethodMetrics::Started` and `Finished`: two clock reads and four relaxed
atomic increments), which noise disturbs far less, to set against the
server's CPU per RPC in the end-to-end table above."""

MEMORY_METHOD = """\
How: for each engine, a fresh `bank_server` (the default `--accounts_max`
of 1,000,000) is started and its RSS read (`VmRSS` of `/proc/<pid>/status`);
then `bench_open_accounts` (`bench/open_accounts.cc`) opens the accounts
with 256 OpenAccount RPCs in flight over 2 connections (ids `m` + ten
digits, each fits std::string's inline buffer), and the RSS is read again.
Server and client are not pinned here: RSS does not depend on it, and
opening goes faster.
Bytes per account = (RSS full - RSS empty) / accounts; it therefore also
charges the accounts with whatever gRPC and the allocator kept from serving
a million RPCs. `bank_server` turns Abseil's deadlock detection off itself
(`TuneProcessForThroughput`), so no per-mutex bookkeeping is counted."""

RERUN = ["## Rerun", "", """\
```sh
bench/e2e.sh            # the whole thing: build, measure, write this file
bench/e2e.sh --quick    # a short trial of the same steps (figures are noise)
```
It installs what is missing (`scripts/install-deps.sh --bench`: gnuplot-nox,
util-linux), builds the Release targets in `build/bench` (override with
`BANK_BENCH_BUILD_DIR`), keeps the raw results (Google Benchmark JSON,
every `bank_loadgen` JSON report, TSV files) in `build/bench/bench-results`,
and regenerates this file and `docs/bench/*.png` with `bench/report.py`.
The in-process figures alone: `build/bench/bench/engine_bench
--benchmark_min_time=0.2`."""]


def _engine_ops(data, table, engine, set_name, mix, threads):
    row = data[table].get((engine, set_name, mix, threads))
    return None if row is None else row["ops"]


def _why_queue_one(data):
    batch = data["engine"].get(("queue", "hot", "deposit_withdraw", 1), {})
    load = data["machine"].get("load_start", "?").split(" ")[0]
    cpu_ns = batch.get("cpu_ns_per_op")
    ops = batch.get("ops")
    share = (f" Here the process used {cpu_ns * ops / 1e9:.2f} CPUs on "
             f"average: it ran that fraction of the time on a machine whose "
             f"load average was {load} on {data['machine'].get('cpus')} CPUs."
             if cpu_ns and ops else "")
    capacity = (f"The engine's own cost is the CPU time per operation: "
                f"{cpu_ns:.0f} ns for producer and consumer together, so with "
                f"a CPU each, one producer could pass {1e3 / cpu_ns:.1f} M "
                f"ops/s; the wall-clock figure is what the shared machine "
                f"allowed.{share}" if cpu_ns else "")
    off = _engine_ops(data, "engine", "queue", "hot", "deposit_withdraw", 1)
    on = _engine_ops(data, "engine_detection", "queue", "hot",
                     "deposit_withdraw", 1)
    detection = (f" (Abseil's deadlock detection, on by default in "
                 f"Debian's Abseil and off in our binaries, changes this "
                 f"figure from {off / 1e6:.2f} M ops/s off to "
                 f"{on / 1e6:.2f} M on.)" if on and off else "")
    return f"""\
**Queue engine, one producer.** Per operation the producer validates,
takes and releases the queue's one mutex (`mu_`), which the consumer also
takes twice per batch, and moves two `std::string`s and an `AnyInvocable`
into a ring slot; the consumer moves them out again into `batch_`, applies,
and runs the completion. Producer and consumer sit on the two CPUs, so the
mutex's cache line and every slot's cache lines cross between cores for
each operation (mean drained batch here: {batch.get("batch_mean") or 0:.0f}
operations).{detection} {capacity} What would make it faster still: a bounded lock-free
multi-producer ring (a per-slot sequence number; a producer claims a slot
with one `fetch_add` on the tail and publishes with one release store, no
mutex), a consumer that applies operations in place in the ring instead of
moving them to `batch_`, and a sleep/wake flag so producers touch the
consumer's wake-up only when it is actually asleep."""


def _why_queue_vs_mutex(data):
    cpus = data["machine"].get("cpus", "?")
    batches = [row["batch_mean"] for key, row in data["engine"].items()
               if key[0] == "queue" and key[1] == "hot" and key[3] >= 2
               and row.get("batch_mean")]
    batch = (f" (mean drained batches of {min(batches):.0f} to "
             f"{max(batches):.0f} operations, against a cap of 1,024)"
             if batches else "")
    return f"""\
**Queue versus mutex with 2+ producers.** This machine has {cpus} CPUs: two
or more producers plus the queue's consumer are more runnable threads than
cores, so whenever the scheduler runs producers instead of the consumer,
their operations wait in the ring and the consumer's batches grow{batch}.
The mutex engine's lock holder is always a running thread. The single-writer principle pays off when the
consumer has a core to itself, which a 2-CPU machine shared with producers
cannot give it."""


def _why_e2e(data):
    lines = ["""\
**End to end.** The floor answers on the gRPC thread that received the
RPC. The mutex engine does too, plus a few `absl::Mutex` lock/unlock pairs
per RPC (table lock, account lock). The queue engine hands every RPC to its
consumer thread and back: on a server pinned to one CPU, the consumer and
the gRPC threads take turns on that CPU, so each batch costs a futex
wake-up and context switches, which shows in CPU per RPC; with 10,000
accounts the batches are smaller and each operation's hash-map lookup
misses cache more often than on one hot account. What would close the gap:
a core of its own for the consumer (the pinned server has one CPU here),
or a consumer that spins briefly before sleeping so that a busy server
pays fewer wake-ups; neither was tried in this session."""]
    return lines[0]


def _why_client(data):
    return """\
**bank_loadgen versus the plain client.** Both share one pinned CPU with
nothing else of theirs; per RPC `bank_loadgen` also records a latency
sample in its histogram, updates the per-account ledger and draws the next
operation from its generator, which the plain client does not. Differences
of a few per cent between two runs of the same client are within this
machine's noise (both share the host with other work)."""


def _why_memory(data):
    return f"""\
**Memory.** RSS growth counts everything the server kept from opening the
accounts. The engines' tables are `absl::flat_hash_map`s keyed by
`std::string`: a slot is the 32-byte string (these ids fit its inline
buffer) plus an 8-byte value and a control byte, and the table keeps a
power-of-two capacity at most 7/8 full, so a million accounts take 2^21
slots, about 86 MB: 86 bytes per account before anything else. On top come
whatever gRPC and glibc's allocator kept after a million RPCs. The mutex
engine also allocates an `Account` (mutex and balance, 32 bytes with
malloc's header) per id, and with Abseil's deadlock detection on (Debian's
default, off in `bank_server`) Abseil would also record each mutex it
sees. The queue engine's
preallocated ring (65,536 slots) counts in its empty RSS only as far as it
has been touched."""


_WHY = {"queue_one": _why_queue_one, "queue_vs_mutex": _why_queue_vs_mutex,
        "e2e_rps": _why_e2e, "e2e_cpu": _why_e2e, "client": _why_client,
        "memory": _why_memory}


def targets_discussion(rows, data):
    """Answers the paragraphs that explain each missed target."""
    missed = []
    for _, _, ok, category in rows:
        why = _WHY[category]
        if not ok and why not in missed:
            missed.append(why)
    if not missed:
        return ["Every target is met in this run."]
    lines = ["Why the missed targets are missed:", ""]
    for why in missed:
        lines += [why(data), ""]
    return lines
