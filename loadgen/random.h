// SplitMix64: a tiny, fast, seedable generator (Steele, Lea and Flood 2014).
//
// Each load slot owns one, seeded from --seed and its slot number, so the
// stream of operations each slot sends is reproducible and slots never share
// generator state (no lock, 8 bytes each).

#ifndef BANK_LOADGEN_RANDOM_H_
#define BANK_LOADGEN_RANDOM_H_

#include <cstdint>

namespace bank::loadgen {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform answers a value in [0, bound) for bound > 0. The modulo bias is
  // below bound / 2^64, far under anything a load run could notice.
  uint64_t Uniform(uint64_t bound) { return Next() % bound; }

 private:
  uint64_t state_;
};

}  // namespace bank::loadgen

#endif  // BANK_LOADGEN_RANDOM_H_
