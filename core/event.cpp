#include "core/event.hpp"

#include <array>
#include <random>

namespace triggerd {

const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::delivered: return "delivered";
    case Outcome::dead_lettered: return "dead_lettered";
    case Outcome::dropped: return "dropped";
    case Outcome::abandoned: return "abandoned";
    case Outcome::filtered: return "filtered";
  }
  return "unknown";
}

std::string generate_event_id() {
  // One generator per thread, seeded once: ids must not repeat across replicas, and
  // std::random_device per call would be a system call per event.
  thread_local std::mt19937_64 generator{[] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }()};
  std::uint64_t high = generator();
  std::uint64_t low = generator();
  high = (high & 0xffffffffffff0fffull) | 0x0000000000004000ull;  // version 4
  low = (low & 0x3fffffffffffffffull) | 0x8000000000000000ull;    // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  int pos = 0;
  auto put = [&](std::uint64_t value, int nibbles) {
    for (int i = nibbles - 1; i >= 0; --i) {
      if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
      id[pos++] = kHex[(value >> (i * 4)) & 0xf];
    }
  };
  put(high, 16);
  put(low, 16);
  return id;
}

}  // namespace triggerd
