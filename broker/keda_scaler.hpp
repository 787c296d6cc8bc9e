#pragma once
// KEDA's external scaler (`externalscaler.ExternalScaler`, broker/keda/externalscaler.proto) on
// server.scaler_listen, for ScaledObjects of type `external-push`: IsActive, StreamIsActive,
// GetMetricSpec and GetMetrics answered from the triggers' live numbers (what each answer
// means: broker/keda_selection.hpp); StreamMetricSpec is UNIMPLEMENTED, and KEDA then keeps to
// GetMetricSpec.
//
// gRPC's callback API: the calls run on gRPC's own threads and read the triggers' atomics, so
// a scaler query never waits for the event loop; a StreamIsActive stream is a reactor that
// costs no thread while it waits for the next transition.
//
// gRPC stays inside keda_scaler.cpp (its headers are heavy), so this header declares nothing
// of it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/host_port.hpp"

namespace triggerd {

struct TriggerTelemetry;

class Metrics;

class KedaScaler {
 public:
  // `metrics` must outlive the scaler; its triggers are the ones a ScaledObject may select.
  // Nothing listens before start().
  explicit KedaScaler(Metrics& metrics);
  // stop() with a deadline of now, if it has not been called.
  ~KedaScaler();
  KedaScaler(const KedaScaler&) = delete;
  KedaScaler& operator=(const KedaScaler&) = delete;

  // Binds `address` (port 0 picks a free port) and starts serving. Throws std::runtime_error
  // "cannot listen on server.scaler_listen ADDRESS: ..." when it cannot (port in use, an address
  // this host does not have). Start-up only.
  void start(const HostPort& address);

  // The bound port, after start(); the one chosen when asked for port 0.
  std::uint16_t port() const;

  // `trigger` became active or idle: the StreamIsActive streams that select it send `true`
  // when their selection became active. Any thread, at any time (before start() and after
  // stop() it finds no stream).
  void on_trigger_activity(const TriggerTelemetry& trigger, bool active);

  // Ends every StreamIsActive stream (status OK: KEDA opens a new one, to this replica or
  // another, 2 s later), then shuts the server down: calls still running at `deadline` are
  // cancelled. Blocks until the server has stopped. Idempotent.
  void stop(std::chrono::steady_clock::time_point deadline);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace triggerd
