// TuneProcessForThroughput: process-wide settings every long-running binary
// of ours (bank_server, bank_loadgen, the benchmark tools) applies first
// thing in main, before any thread starts.
//
// 1. Abseil's deadlock detection off. Debian builds Abseil without NDEBUG,
//    so detection defaults to on: every absl::Mutex::Lock, gRPC's own
//    included, then takes a global spinlock to update a lock-order graph.
//    That serialises the whole process and has reported cycles inside
//    gRPC's short-lived mutexes under load. Release builds of Abseil ship
//    with it off; our own lock order is checked by clang's -Wthread-safety
//    and by the engine tests, which keep detection on.
// 2. glibc keeps freed heap instead of trimming it after every burst of
//    RPCs (each gRPC call allocates and frees an arena): trimming and
//    re-faulting those pages cost about a third of the CPU per RPC. What is
//    kept is bounded by the peak in use.

#ifndef BANK_SERVICE_ENGINE_PROCESS_TUNING_H_
#define BANK_SERVICE_ENGINE_PROCESS_TUNING_H_

namespace bank {

inline constexpr int kMallocTrimThresholdBytes = 256 << 20;
inline constexpr int kMallocMmapThresholdBytes = 4 << 20;

void TuneProcessForThroughput();

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_PROCESS_TUNING_H_
