#pragma once
// One version of a configured trigger at run time: the config it was made from, its runtime
// (the bounded entry its source feeds) and its source. A reload that changes a trigger makes a
// new version; the old one drains and closes first, and the new one starts once no older
// version of the same name is left (two versions never read one queue at once).
#include <memory>
#include <vector>

#include "config/config.hpp"
#include "connectors/source.hpp"
#include "core/metrics.hpp"
#include "core/task_group.hpp"
#include "broker/trigger_runtime.hpp"

namespace triggerd {

struct RunningTrigger {
  // The config the version runs on now; a reload that changes only what the source does not
  // depend on rebinds the version to a newer one (App::rebind).
  std::shared_ptr<const config::Config> generation;
  const config::Trigger* config = nullptr;  // in *generation
  // The config the source (and the dead letter) were made from, which they refer to.
  std::shared_ptr<const config::Config> source_generation;
  // Configs the version ran on before a rebind: events started then still refer to them.
  // Dropped at a later rebind that finds the version with nothing in flight.
  std::vector<std::shared_ptr<const config::Config>> earlier_generations;
  // The trigger's telemetry: one per name, shared by its versions (counters go on).
  std::shared_ptr<TriggerTelemetry> telemetry;
  std::unique_ptr<TriggerRuntime> runtime;
  std::unique_ptr<Source> source;  // none for http triggers (webhook routes) and before start
  // The source's run(); a drain waits for it to return after close().
  std::unique_ptr<TaskGroup> tasks;
  bool started = false;  // events can come in: the source runs, or the route points here
  bool active = false;   // the trigger's activity as last posted to the event loop

  const std::string& name() const { return config->name; }
  bool http() const { return std::holds_alternative<config::HttpSource>(config->source); }
};

}  // namespace triggerd
