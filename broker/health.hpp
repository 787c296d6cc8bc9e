#pragma once
// What /readyz answers (docs/admin-api.md): ready once the config is loaded and the servers
// listen, every trigger's source is up, and no drain has started.
//
// Plain members, not atomics: the app marks start and drain from the io_context thread
// (start-up code and the signal handler run there), and /readyz is answered there too.
#include <string>

#include "core/metrics.hpp"

namespace triggerd {

class Health {
 public:
  explicit Health(const Metrics& metrics) : metrics_(metrics) {}

  // The app calls this once the config is loaded and every server listens.
  void set_started() { started_ = true; }
  // From the first moment of a drain; readiness never comes back in this process.
  void begin_drain() { draining_ = true; }

  bool draining() const { return draining_; }
  bool ready() const { return started_ && !draining_ && metrics_.all_sources_up(); }

  // Why the replica is not ready, for the /readyz body and the logs; empty when ready.
  std::string not_ready_reason() const {
    if (draining_) return "draining";
    if (!started_) return "starting";
    std::string down;
    for (const auto& trigger : *metrics_.triggers()) {
      if (trigger->state.source_up() || trigger->state.restarting()) continue;
      down += down.empty() ? "source down: " : ", ";
      down += trigger->name;
    }
    return down;
  }

 private:
  const Metrics& metrics_;
  bool started_ = false;
  bool draining_ = false;
};

}  // namespace triggerd
