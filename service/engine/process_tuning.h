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
// 3. StartHeapTrimmer gives that memory back after a peak: a flood of
//    streams (issue 13) can take the heap to gigabytes for a moment, and
//    with (2) alone glibc would keep all of it for the life of the process.
//    A background thread calls malloc_trim(0) every kHeapTrimInterval,
//    which returns free pages of every arena to the kernel; the hot path
//    stays as fast as with (2), because no free() trims. Numbers (RPS and
//    RSS with and without) are in docs/BENCHMARKS.md.

#ifndef BANK_SERVICE_ENGINE_PROCESS_TUNING_H_
#define BANK_SERVICE_ENGINE_PROCESS_TUNING_H_

#include "absl/time/time.h"

namespace bank {

inline constexpr int kMallocTrimThresholdBytes = 256 << 20;
inline constexpr int kMallocMmapThresholdBytes = 4 << 20;

inline constexpr absl::Duration kHeapTrimInterval = absl::Seconds(1);

void TuneProcessForThroughput();

// StartHeapTrimmer starts the detached thread of (3); call it at most once,
// after TuneProcessForThroughput. The thread runs until the process exits.
void StartHeapTrimmer(absl::Duration interval = kHeapTrimInterval);

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_PROCESS_TUNING_H_
