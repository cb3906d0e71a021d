// bank_server: serves bank.v1.BankService over gRPC from one account engine.
//
// Flags are read once, into a ServerMainConfig, before anything starts. Any
// bad value prints one line naming the flag and exits with kExitUsage
// (absl itself exits 1 on malformed syntax, e.g. --accounts_max=abc or an
// unknown flag). See docs/SERVER.md for the flag table and examples.

#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "service/engine/engine_factory.h"
#include "service/engine/process_tuning.h"
#include "service/server/connection_listener.h"
#include "service/server/metrics_http.h"
#include "service/server/peer_rate_limiter.h"
#include "service/server/protobuf_log.h"
#include "service/server/server_engine_factory.h"
#include "service/server/server_limits.h"
#include "service/server/server_runner.h"
#include "service/server/server_security.h"
#include "service/storage/rocksdb_store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "host:port to serve on (loopback by default; 0.0.0.0:50051 serves "
          "every interface). Port 0-65535; 0 picks a free port; the bound "
          "address "
          "is printed on stdout as 'bank_server listening on HOST:PORT "
          "engine=NAME'.");
ABSL_FLAG(absl::Duration, heap_trim_interval, bank::kHeapTrimInterval,
          "How often free heap is given back to the kernel (malloc_trim), so "
          "memory comes back after a flood; 0 turns it off. 0 or 100ms-1h.");
ABSL_FLAG(std::string, engine, "queue",
          "Account engine: 'mutex' (one lock per account), 'queue' (one "
          "thread owns every balance; operations arrive on a bounded queue), "
          "'unsafe' (read, wait, write: loses updates on purpose, for the "
          "demonstration only) or 'postgres' (balances in PostgreSQL, shared "
          "by any number of replicas; see docs/SCALING.md).");
ABSL_FLAG(std::string, postgres_dsn, "",
          "postgres engine: libpq connection string, e.g. 'host=db "
          "dbname=bank user=bank'. No password here (ps shows it): use "
          "PGPASSWORD or a passfile.");
ABSL_FLAG(uint64_t, postgres_connections, bank::kPostgresConnectionsDefault,
          "postgres engine: pooled connections, each pipelining up to "
          "--postgres_pipeline_depth operations; beyond that RPCs answer "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(uint64_t, postgres_pipeline_depth, bank::kPipelineDepthMaxDefault,
          "postgres engine: operations in flight on one connection.");
ABSL_FLAG(std::string, accounts, "",
          "Accounts opened at start, as ACCOUNT_ID:BALANCE pairs separated by "
          "commas, e.g. 'main:80,b:10'. Balances are in minor units.");
ABSL_FLAG(std::string, apply_latency, "",
          "Latency each operation spends inside the engine's critical "
          "section: '' or '0' (off), a fixed duration such as '5ms', or a "
          "uniform range such as '0-100ms'. Shows the race and what "
          "serialisation costs.");
ABSL_FLAG(bool, log_ops, false,
          "Print one line per applied operation on stdout, e.g. '[-] 30 "
          "马伊琍'. Off by default: it costs throughput.");
ABSL_FLAG(uint64_t, accounts_max, bank::kAccountsMaxDefault,
          "Most accounts the engine holds; opening one more answers "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(uint64_t, queue_depth_max, bank::kQueueDepthMaxDefault,
          "Queue engine only: most operations waiting for the consumer; a "
          "full queue answers RESOURCE_EXHAUSTED at once.");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port to serve Prometheus metrics on, over plain HTTP at "
          "/metrics, e.g. '127.0.0.1:9464'. Empty (default): no metrics "
          "endpoint. Port 0 picks a free port, printed at the end of the "
          "listening line as 'metrics=HOST:PORT'.");
ABSL_FLAG(std::string, data_dir, "",
          "Directory of the durable store (RocksDB): an operation is "
          "acknowledged only once it is on stable storage, and a restart on "
          "the same directory serves every acknowledged balance. Empty: "
          "balances live in memory only. Not with --engine=unsafe.");
ABSL_FLAG(absl::Duration, shutdown_grace, bank::kShutdownGraceDefault,
          "After SIGINT/SIGTERM, how long in-flight RPCs may still run before "
          "they are cancelled, e.g. '5s'. Range 0 to 1h.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain to serve TLS with (needs --tls_key). Empty: "
          "plaintext, which must never face an untrusted network.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificate(s): with it, mutual TLS; a client must show a "
          "certificate signed by one of them or the handshake fails.");
ABSL_FLAG(std::string, authz_policy, "",
          "Authorization policy in gRPC's JSON format (docs/SERVER.md) over "
          "the client certificate's names and the method, e.g. "
          "docker/authz-policy.json; a call it does not allow answers "
          "PERMISSION_DENIED. Needs --tls_cert.");
ABSL_FLAG(absl::Duration, reload_interval, bank::kReloadIntervalDefault,
          "How often the --tls_* files and --authz_policy are re-read from "
          "disk (whole seconds), so rotated certificates and policy edits "
          "apply without a restart.");
// Limits against abusive clients: see docs/SERVER.md, "Limits and abuse".
ABSL_FLAG(int32_t, max_concurrent_streams, bank::kConcurrentStreamsMaxDefault,
          "Most RPCs in flight on one connection (HTTP/2 "
          "MAX_CONCURRENT_STREAMS); more are refused. Range 1-10000.");
ABSL_FLAG(absl::Duration, max_connection_idle, bank::kConnectionIdleMaxDefault,
          "A connection with no RPC for this long is closed (GOAWAY). "
          "Range 1s-8760h.");
ABSL_FLAG(absl::Duration, max_connection_age, bank::kConnectionAgeMaxDefault,
          "A connection this old is asked to go away (GOAWAY); clients "
          "reconnect. Range 1s-8760h.");
ABSL_FLAG(absl::Duration, max_connection_age_grace,
          bank::kConnectionAgeGraceDefault,
          "After --max_connection_age, how long its RPCs may still run. "
          "Range 1s-8760h.");
ABSL_FLAG(absl::Duration, min_ping_interval, bank::kPingIntervalMinDefault,
          "Keepalive enforcement: clients pinging more often than this, or "
          "at all while no RPC runs, are disconnected (GOAWAY "
          "too_many_pings). Range 1s-8760h.");
ABSL_FLAG(absl::Duration, handshake_timeout, bank::kHandshakeTimeoutDefault,
          "A connection that has not finished the HTTP/2 handshake by then "
          "is closed. Range 1s-8760h.");
ABSL_FLAG(int64_t, grpc_memory_max_bytes, bank::kGrpcMemoryBytesMaxDefault,
          "gRPC's ResourceQuota: memory its transports may use for buffers. "
          "Range 4 MiB-64 GiB.");
ABSL_FLAG(int32_t, max_connections, bank::kConnectionsMaxDefault,
          "Most open connections; more are closed at once. 0 (default): the "
          "descriptor limit, raised to its hard limit at start, minus 256, "
          "at most 10000. Range 0-1000000, and under the descriptor limit.");
ABSL_FLAG(double, open_account_rps_per_peer,
          bank::kOpenAccountRpsPerPeerDefault,
          "OpenAccount calls per second allowed from one client address "
          "(bursts up to --open_account_burst_per_peer); more answer "
          "RESOURCE_EXHAUSTED. 0 turns the limit off. Range 0-1000000.");
ABSL_FLAG(int32_t, open_account_burst_per_peer,
          bank::kOpenAccountBurstPerPeerDefault,
          "How many OpenAccount calls one client address may make at once "
          "before --open_account_rps_per_peer applies. Range 1-1000000.");
ABSL_FLAG(absl::Duration, request_id_ttl, bank::kRequestIdTtlDefault,
          "How long the outcome of a change that carried a request_id is "
          "remembered and replayed to repeats, e.g. '24h'.");
ABSL_FLAG(uint64_t, request_ids_max, bank::kRequestIdsMaxDefault,
          "Most request ids remembered at once (about 350 bytes each; see "
          "docs/SERVER.md); the oldest remembered outcome is forgotten first.");

namespace bank {
namespace {

// Exit codes: 0 after a clean shutdown, kExitUsage for a bad flag value,
// kExitFailure when the server cannot start (e.g. the port is taken).
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct ServerMainConfig {
  ServerConfig server;
  ServerSecurityConfig security;
  EngineOptions engine;
  PostgresOptions postgres;
  std::string data_dir;
  std::vector<InitialAccount> accounts;
  absl::Duration heap_trim_interval = kHeapTrimInterval;
};

// Ranges of the engine's size flags. The queue engine allocates
// queue_depth_max slots at start; accounts take memory as they open. Each
// must also fit in half the machine's memory at the estimated bytes per
// item, so that a typo fails with a message instead of an abort at start
// or an OOM later.
constexpr uint64_t kAccountsMaxMax = 100'000'000;
constexpr uint64_t kAccountBytesEstimate = 256;  // Id, balance, map slot.
constexpr uint64_t kQueueDepthMaxMax = uint64_t{1} << 24;
constexpr uint64_t kQueueSlotBytesEstimate = 128;  // Operation + callback.
constexpr absl::Duration kShutdownGraceMax = absl::Hours(1);
// Remembered request ids: about 350 bytes each (docs/SERVER.md).
constexpr uint64_t kRequestIdsMaxMax = 100'000'000;
constexpr uint64_t kRequestIdBytesEstimate = 350;
constexpr absl::Duration kRequestIdTtlMax = absl::Hours(24 * 30);
constexpr absl::Duration kHeapTrimIntervalMin = absl::Milliseconds(100);

absl::Status CheckSizeFlag(const char* flag, uint64_t value, uint64_t max,
                           uint64_t bytes_each) {
  if (value < 1 || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, "=", value, " is out of range [1, ", max, "]"));
  }
  const uint64_t memory_bytes = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) *
                                static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (value > memory_bytes / 2 / bytes_each) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, "=", value, " would need about ", value * bytes_each >> 20,
        " MiB, more than half this machine's ", memory_bytes >> 20, " MiB"));
  }
  return absl::OkStatus();
}

// Ranges of the postgres engine's count flags, checked whatever the engine
// so that a typo fails at once: connections as the engine allows; a
// pipeline deeper than this gains nothing (each slot is an operation held
// in memory until the database answers).
constexpr uint64_t kPostgresPipelineDepthMax = 65536;

absl::Status CheckCountFlag(const char* flag, uint64_t value, uint64_t max) {
  if (value < 1 || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, "=", value, " is out of range [1, ", max, "]"));
  }
  return absl::OkStatus();
}

absl::Status ReadLimitFlags(ServerConfig& config) {
  ServerLimits& limits = config.limits;
  limits.concurrent_streams_max = absl::GetFlag(FLAGS_max_concurrent_streams);
  limits.connection_idle_max = absl::GetFlag(FLAGS_max_connection_idle);
  limits.connection_age_max = absl::GetFlag(FLAGS_max_connection_age);
  limits.connection_age_grace = absl::GetFlag(FLAGS_max_connection_age_grace);
  limits.ping_interval_min = absl::GetFlag(FLAGS_min_ping_interval);
  limits.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  limits.grpc_memory_bytes_max = absl::GetFlag(FLAGS_grpc_memory_max_bytes);
  limits.connections_max = absl::GetFlag(FLAGS_max_connections);
  absl::Status status = ValidateServerLimits(limits);
  if (!status.ok()) return status;
  // Raises RLIMIT_NOFILE now, so a --max_connections the limit cannot hold
  // is a usage error (exit 2) rather than a failure to start.
  absl::StatusOr<int> connections_max =
      RaiseDescriptorLimit(limits.connections_max);
  if (!connections_max.ok()) return connections_max.status();
  limits.connections_max = *connections_max;
  config.open_account_rate.rps = absl::GetFlag(FLAGS_open_account_rps_per_peer);
  config.open_account_rate.burst =
      absl::GetFlag(FLAGS_open_account_burst_per_peer);
  return ValidatePeerRate(config.open_account_rate);
}

absl::StatusOr<ServerMainConfig> ReadFlags() {
  ServerMainConfig config;
  config.server.listen_address = absl::GetFlag(FLAGS_listen);
  config.server.log_ops = absl::GetFlag(FLAGS_log_ops);
  absl::Status status = ValidateListenAddress(config.server.listen_address);
  if (!status.ok()) return status;
  config.server.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  config.server.metrics_listen_address = absl::GetFlag(FLAGS_metrics_listen);
  if (!config.server.metrics_listen_address.empty()) {
    absl::Status valid =
        CheckMetricsListen(config.server.metrics_listen_address);
    if (!valid.ok()) return valid;
  }
  if (config.server.shutdown_grace < absl::ZeroDuration() ||
      config.server.shutdown_grace > kShutdownGraceMax) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--shutdown_grace=", absl::FormatDuration(config.server.shutdown_grace),
        " is out of range [0, ", absl::FormatDuration(kShutdownGraceMax), "]"));
  }
  config.security.tls_cert_path = absl::GetFlag(FLAGS_tls_cert);
  config.security.tls_key_path = absl::GetFlag(FLAGS_tls_key);
  config.security.tls_client_ca_path = absl::GetFlag(FLAGS_tls_client_ca);
  config.security.authz_policy_path = absl::GetFlag(FLAGS_authz_policy);
  config.security.reload_interval = absl::GetFlag(FLAGS_reload_interval);
  absl::Status security = ValidateServerSecurityConfig(config.security);
  if (!security.ok()) return security;
  status = ReadLimitFlags(config.server);
  if (!status.ok()) return status;
  config.heap_trim_interval = absl::GetFlag(FLAGS_heap_trim_interval);
  if (config.heap_trim_interval != absl::ZeroDuration() &&
      (config.heap_trim_interval < kHeapTrimIntervalMin ||
       config.heap_trim_interval > absl::Hours(1))) {
    return absl::InvalidArgumentError(
        absl::StrCat("--heap_trim_interval=",
                     absl::FormatDuration(config.heap_trim_interval),
                     " is out of range: 0 (off) or [100ms, 1h]"));
  }
  config.engine.engine = absl::GetFlag(FLAGS_engine);
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  if (!config.data_dir.empty() && config.engine.engine == "unsafe") {
    return absl::InvalidArgumentError(
        "--data_dir cannot be used with --engine=unsafe: that engine loses "
        "updates on purpose; choose --engine=mutex or --engine=queue");
  }
  if (!config.data_dir.empty() && config.engine.engine == "postgres") {
    return absl::InvalidArgumentError(
        "--data_dir cannot be used with --engine=postgres: its balances are "
        "durable in the database; drop --data_dir");
  }
  config.engine.accounts_max = absl::GetFlag(FLAGS_accounts_max);
  config.engine.queue_depth_max = absl::GetFlag(FLAGS_queue_depth_max);
  status = CheckSizeFlag("--accounts_max", config.engine.accounts_max,
                         kAccountsMaxMax, kAccountBytesEstimate);
  if (!status.ok()) return status;
  status = CheckSizeFlag("--queue_depth_max", config.engine.queue_depth_max,
                         kQueueDepthMaxMax, kQueueSlotBytesEstimate);
  if (!status.ok()) return status;
  absl::StatusOr<LatencyRange> latency =
      ParseLatencyRange(absl::GetFlag(FLAGS_apply_latency));
  if (!latency.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--apply_latency: ", latency.status().message()));
  }
  config.engine.latency = *latency;
  config.server.engine_stop_max = latency->max + absl::Seconds(1);
  config.engine.request_ids.ttl = absl::GetFlag(FLAGS_request_id_ttl);
  config.engine.request_ids.entries_max = absl::GetFlag(FLAGS_request_ids_max);
  if (config.engine.request_ids.ttl <= absl::ZeroDuration() ||
      config.engine.request_ids.ttl > kRequestIdTtlMax) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--request_id_ttl=",
        absl::FormatDuration(config.engine.request_ids.ttl),
        " is out of range (0, ", absl::FormatDuration(kRequestIdTtlMax), "]"));
  }
  status =
      CheckSizeFlag("--request_ids_max", config.engine.request_ids.entries_max,
                    kRequestIdsMaxMax, kRequestIdBytesEstimate);
  if (!status.ok()) return status;
  config.postgres.dsn = absl::GetFlag(FLAGS_postgres_dsn);
  config.postgres.connections = absl::GetFlag(FLAGS_postgres_connections);
  config.postgres.pipeline_depth_max =
      absl::GetFlag(FLAGS_postgres_pipeline_depth);
  status = CheckCountFlag("--postgres_connections", config.postgres.connections,
                          kPostgresConnectionsMax);
  if (!status.ok()) return status;
  status = CheckCountFlag("--postgres_pipeline_depth",
                          config.postgres.pipeline_depth_max,
                          kPostgresPipelineDepthMax);
  if (!status.ok()) return status;
  absl::StatusOr<std::vector<InitialAccount>> accounts =
      ParseAccounts(absl::GetFlag(FLAGS_accounts));
  if (!accounts.ok()) return accounts.status();
  config.accounts = *std::move(accounts);
  return config;
}

void WarnUnsafe() {
  std::fprintf(
      stderr,
      "\n"
      "**************************************************************\n"
      "* WARNING: --engine=unsafe LOSES UPDATES ON PURPOSE.         *\n"
      "* It reads a balance, waits, then writes it back, exactly as *\n"
      "* the article's naive account does. Use it only to see the   *\n"
      "* race; never for money you care about.                      *\n"
      "**************************************************************\n"
      "\n");
}

int Fail(int exit_code, const absl::Status& status) {
  std::fprintf(stderr, "bank_server: %s\n",
               std::string(status.message()).c_str());
  return exit_code;
}

// OpenStore opens --data_dir, prints what it recovered, hands the recovered
// balances to the engine options and drops --accounts that already exist
// (a restart with the same flags keeps the stored balances).
absl::StatusOr<std::unique_ptr<RocksDbStore>> OpenStore(
    const std::string& data_dir, ServerMainConfig& config) {
  RocksDbStoreOptions options;
  options.dir = data_dir;
  options.log_line = [](const std::string& line) {
    std::fprintf(stderr, "bank_server: %s\n", line.c_str());
  };
  RecoveredState recovered;
  absl::StatusOr<std::unique_ptr<RocksDbStore>> store =
      RocksDbStore::Open(options, &recovered);
  if (!store.ok()) return store.status();
  // On stderr: stdout's first line is the listening line scripts wait for.
  std::fprintf(
      stderr,
      "bank_server: recovered %zu accounts and %zu request-id journal "
      "entries from %s: last sequence number %llu (%llu records committed), "
      "%.1f ms\n",
      recovered.balances.size(), recovered.entries.size(), data_dir.c_str(),
      static_cast<unsigned long long>(recovered.storage_sequence),
      static_cast<unsigned long long>(recovered.records_committed),
      absl::ToDoubleMilliseconds(recovered.recovery_time));
  std::vector<InitialAccount> missing;
  for (InitialAccount& account : config.accounts) {
    if (!recovered.balances.contains(account.account_id)) {
      missing.push_back(std::move(account));
    }
  }
  config.accounts = std::move(missing);
  config.engine.store = store->get();
  config.engine.recovered_balances = std::move(recovered.balances);
  config.engine.recovered_entries = std::move(recovered.entries);
  return store;
}

// ThisFileDefinesHelpFlags makes --help list the flags above: by default
// absl lists only flags from a file named after the binary.
bool ThisFileDefinesHelpFlags(absl::string_view file_name) {
  return absl::EndsWith(file_name, "server_main.cc");
}

int Main(int argc, char** argv) {
  TuneProcessForThroughput();
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = ThisFileDefinesHelpFlags;
  usage_config.contains_helpshort_flags = ThisFileDefinesHelpFlags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "Serves bank.v1.BankService over gRPC.\n"
      "Example: bank_server --listen=127.0.0.1:50051 --engine=mutex "
      "--accounts=main:80 --apply_latency=0-100ms --log_ops");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    return Fail(kExitUsage, absl::InvalidArgumentError(absl::StrCat(
                                "unexpected argument \"", positional[1],
                                "\"; flags take the form --name=value")));
  }
  absl::StatusOr<ServerMainConfig> config = ReadFlags();
  if (!config.ok()) return Fail(kExitUsage, config.status());

  // A reader that closes our stdout (a --log_ops pipe) must cost log lines,
  // not the process.
  signal(SIGPIPE, SIG_IGN);
  // Before any thread exists (the queue engine's consumer, gRPC's pollers),
  // so that every thread inherits the mask: see server_runner.h.
  absl::Status status = BlockShutdownSignals();
  if (!status.ok()) return Fail(kExitFailure, status);
  if (config->heap_trim_interval > absl::ZeroDuration()) {
    StartHeapTrimmer(config->heap_trim_interval);
  }
  RateLimitProtobufLog();

  // After the mask: gRPC's file watchers start threads here.
  absl::StatusOr<ServerSecurity> security =
      MakeServerSecurity(config->security);
  if (!security.ok()) return Fail(kExitUsage, security.status());
  config->server.security = *std::move(security);
  std::fprintf(stderr, "bank_server: %s\n",
               config->server.security.description.c_str());

  std::unique_ptr<RocksDbStore> store;
  if (!config->data_dir.empty()) {
    absl::StatusOr<std::unique_ptr<RocksDbStore>> opened =
        OpenStore(config->data_dir, *config);
    if (!opened.ok()) return Fail(kExitFailure, opened.status());
    store = *std::move(opened);
  }
  absl::StatusOr<std::unique_ptr<AccountEngine>> engine =
      CreateServerEngine(config->engine, config->postgres);
  if (!engine.ok()) {
    // A bad flag is a usage error; a database that is unreachable or newer
    // than this binary is a failure to start.
    return Fail(engine.status().code() == absl::StatusCode::kInvalidArgument
                    ? kExitUsage
                    : kExitFailure,
                engine.status());
  }
  if (config->engine.engine == "unsafe") WarnUnsafe();
  status = OpenAccounts(**engine, config->accounts);
  if (!status.ok()) return Fail(kExitUsage, status);

  status = RunServer(config->server, **engine);
  if (!status.ok()) return Fail(kExitFailure, status);
  engine->reset();  // Drained by RunServer; nothing may commit after this.
  if (store != nullptr) {
    const StoreStats stats = store->stats();
    std::fprintf(
        stderr,
        "bank_server: storage: %llu syncs, %llu operations (%.1f per sync), "
        "%llu failed, %llu bytes, sync mean %.3f ms max %.3f ms\n",
        static_cast<unsigned long long>(stats.commits),
        static_cast<unsigned long long>(stats.records),
        stats.records_per_commit(),
        static_cast<unsigned long long>(stats.commits_failed),
        static_cast<unsigned long long>(stats.bytes_written),
        stats.commits == 0 ? 0.0
                           : absl::ToDoubleMilliseconds(stats.sync_time_total) /
                                 static_cast<double>(stats.commits),
        absl::ToDoubleMilliseconds(stats.sync_time_max));
    status = store->Close();
    if (!status.ok()) return Fail(kExitFailure, status);
    std::fprintf(stderr, "bank_server: data directory %s synced and closed\n",
                 config->data_dir.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace bank

int main(int argc, char** argv) { return bank::Main(argc, argv); }
