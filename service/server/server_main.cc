// bank_server: serves bank.v1.BankService over gRPC from one account engine.
//
// Flags are read once, into a ServerMainConfig, before anything starts. Any
// bad value prints one line naming the flag and exits with kExitUsage
// (absl itself exits 1 on malformed syntax, e.g. --accounts_max=abc or an
// unknown flag). See docs/SERVER.md for the flag table and examples.

#include <signal.h>

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
#include "service/server/metrics_http.h"
#include "service/server/server_engine_factory.h"
#include "service/server/server_runner.h"
#include "service/server/server_security.h"
#include "service/storage/rocksdb_store.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051",
          "host:port to serve on. Port 0 picks a free port; the bound address "
          "is printed on stdout as 'bank_server listening on HOST:PORT "
          "engine=NAME'.");
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
          "they are cancelled, e.g. '5s'.");
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
};

absl::StatusOr<ServerMainConfig> ReadFlags() {
  ServerMainConfig config;
  config.server.listen_address = absl::GetFlag(FLAGS_listen);
  config.server.log_ops = absl::GetFlag(FLAGS_log_ops);
  config.server.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  config.server.metrics_listen_address = absl::GetFlag(FLAGS_metrics_listen);
  if (!config.server.metrics_listen_address.empty()) {
    absl::Status valid =
        CheckMetricsListen(config.server.metrics_listen_address);
    if (!valid.ok()) return valid;
  }
  if (config.server.shutdown_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--shutdown_grace must not be negative");
  }
  config.security.tls_cert_path = absl::GetFlag(FLAGS_tls_cert);
  config.security.tls_key_path = absl::GetFlag(FLAGS_tls_key);
  config.security.tls_client_ca_path = absl::GetFlag(FLAGS_tls_client_ca);
  config.security.authz_policy_path = absl::GetFlag(FLAGS_authz_policy);
  config.security.reload_interval = absl::GetFlag(FLAGS_reload_interval);
  absl::Status security = ValidateServerSecurityConfig(config.security);
  if (!security.ok()) return security;
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
      config.engine.request_ids.entries_max == 0) {
    return absl::InvalidArgumentError(
        "--request_id_ttl and --request_ids_max must be positive");
  }
  config.postgres.dsn = absl::GetFlag(FLAGS_postgres_dsn);
  config.postgres.connections = absl::GetFlag(FLAGS_postgres_connections);
  config.postgres.pipeline_depth_max =
      absl::GetFlag(FLAGS_postgres_pipeline_depth);
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
      "bank_server: recovered %zu accounts from %s: last sequence number %llu "
      "(%llu records committed), %.1f ms\n",
      recovered.balances.size(), data_dir.c_str(),
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
