#include "broker/keda_scaler.hpp"

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/time.h>
#include <prometheus/gauge.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "broker/keda/externalscaler.grpc.pb.h"
#include "broker/keda_selection.hpp"
#include "core/logging.hpp"
#include "core/metrics.hpp"

namespace triggerd {
namespace {

using externalscaler::GetMetricSpecResponse;
using externalscaler::GetMetricsRequest;
using externalscaler::GetMetricsResponse;
using externalscaler::IsActiveResponse;
using externalscaler::ScaledObjectRef;

// KEDA's requests are a ScaledObject's name, namespace and trigger metadata: a few hundred
// bytes. The cap bounds what a misbehaving client makes the server buffer.
constexpr int kMaxRequestBytes = 64 * 1024;
// HTTP/2 pings on an idle connection, so that a StreamIsActive stream whose client vanished
// without closing its connection (a node gone, a network cut) is found dead and freed.
constexpr int kKeepaliveTimeMs = 60'000;
constexpr int kKeepaliveTimeoutMs = 20'000;
// How long a stop lets unary calls that are under way finish, once the streams have ended. They
// take microseconds; the bound matters because gRPC's shutdown also waits for every client
// connection to close after its GOAWAY, and a C-core client (C++, Python) keeps an idle one open:
// without it, each stop would wait out the whole shutdown_timeout for nothing.
constexpr auto kCallGrace = std::chrono::milliseconds(100);

// The metadata's value of `key`; nullopt when the key is absent.
std::optional<std::string_view> metadata_value(const ScaledObjectRef& ref, std::string_view key) {
  const auto& metadata = ref.scalermetadata();
  const auto it = metadata.find(std::string(key));
  if (it == metadata.end()) return std::nullopt;
  return std::string_view(it->second);
}

grpc::Status to_status(const SelectionError& error) {
  return grpc::Status(error.kind == SelectionError::Kind::kNotFound
                          ? grpc::StatusCode::NOT_FOUND
                          : grpc::StatusCode::INVALID_ARGUMENT,
                      error.message);
}

// A server-streaming call answered with a status and no message.
template <typename Response>
class FinishedStream final : public grpc::ServerWriteReactor<Response> {
 public:
  explicit FinishedStream(grpc::Status status) { this->Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

class KedaScaler::Impl final : public externalscaler::ExternalScaler::CallbackService {
 public:
  explicit Impl(Metrics& metrics) : metrics_(metrics), log_(logging::get("scaler")) {}

  ~Impl() override { stop(std::chrono::steady_clock::now()); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void start(const HostPort& address) {
    grpc::ServerBuilder builder;
    // gRPC sets SO_REUSEPORT by default: a second triggerd on the same port would then share
    // it (and KEDA's streams) silently instead of failing to start.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
    // A stream waiting for its next transition sends no data for hours: keep pinging anyway
    // (gRPC stops after two pings without data by default).
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
    builder.AddListeningPort(address.to_string(), grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    if (!server_ || port_ == 0) {
      // gRPC does not say why; it wrote its own line on stderr just before.
      server_.reset();
      throw std::runtime_error("cannot listen on server.scaler_listen " + address.to_string() +
                               ": the port is in use, or the host is not an address of this "
                               "machine");
    }
    log_->info("KEDA scaler listening on {}", HostPort{address.host, port()}.to_string());
  }

  std::uint16_t port() const { return static_cast<std::uint16_t>(port_); }

  void on_trigger_activity(const TriggerTelemetry& trigger, bool active) {
    // Copied out so that no gRPC operation starts under the lock: one may call back into
    // this scaler (OnDone) on this very thread.
    std::vector<std::shared_ptr<ActivityStream>> selecting;
    {
      std::lock_guard lock(streams_mutex_);
      for (const auto& stream : streams_) {
        if (stream->selects(trigger)) selecting.push_back(stream);
      }
    }
    for (const auto& stream : selecting) stream->changed(active);
  }

  void stop(std::chrono::steady_clock::time_point deadline) {
    std::vector<std::shared_ptr<ActivityStream>> open;
    {
      std::lock_guard lock(streams_mutex_);
      if (stopping_) return;
      stopping_ = true;  // a stream that opens from now on is ended at once
      open = streams_;
    }
    for (const auto& stream : open) stream->close();
    if (!server_) return;
    {
      // Ending a stream takes a turn of gRPC's threads (its status goes out, then OnDone()).
      std::unique_lock lock(streams_mutex_);
      streams_done_.wait_until(lock, deadline, [&] { return streams_.empty(); });
    }
    // Then a short grace for unary calls under way; what still runs after it (or after the
    // deadline, if that comes first) is cancelled and every connection closed. Shutdown()
    // returns once every call is done.
    const auto now = std::chrono::steady_clock::now();
    const auto left = std::max(std::min(deadline, now + kCallGrace) - now,
                               std::chrono::steady_clock::duration::zero());
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
    log_->debug("KEDA scaler stopped");
  }

  // ---- the RPCs (gRPC's threads) --------------------------------------------------------

  grpc::ServerUnaryReactor* IsActive(grpc::CallbackServerContext* context,
                                     const ScaledObjectRef* request,
                                     IsActiveResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    auto selected = select(*request);
    if (const auto* error = std::get_if<SelectionError>(&selected)) {
      reactor->Finish(to_status(*error));
      return reactor;
    }
    response->set_result(any_active(read(std::get<ScalerSelection>(selected))));
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* GetMetricSpec(grpc::CallbackServerContext* context,
                                          const ScaledObjectRef* request,
                                          GetMetricSpecResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    auto selected = select(*request);
    if (const auto* error = std::get_if<SelectionError>(&selected)) {
      reactor->Finish(to_status(*error));
      return reactor;
    }
    const auto& selection = std::get<ScalerSelection>(selected);
    const ScalerMetric metric = scaler_metric(read(selection));
    externalscaler::MetricSpec* spec = response->add_metricspecs();
    spec->set_metricname(selection.metric_name);
    spec->set_targetsize(metric.target);
    spec->set_targetsizefloat(static_cast<double>(metric.target));
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* GetMetrics(grpc::CallbackServerContext* context,
                                       const GetMetricsRequest* request,
                                       GetMetricsResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    // request->metricname() is not checked: the selection names the one metric there is.
    auto selected = select(request->scaledobjectref());
    if (const auto* error = std::get_if<SelectionError>(&selected)) {
      reactor->Finish(to_status(*error));
      return reactor;
    }
    const auto& selection = std::get<ScalerSelection>(selected);
    const ScalerMetric metric = scaler_metric(read(selection));
    externalscaler::MetricValue* value = response->add_metricvalues();
    value->set_metricname(selection.metric_name);
    value->set_metricvalue(metric.value);
    value->set_metricvaluefloat(static_cast<double>(metric.value));
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerWriteReactor<IsActiveResponse>* StreamIsActive(
      grpc::CallbackServerContext* /*context*/, const ScaledObjectRef* request) override {
    auto selected = select(*request);
    if (const auto* error = std::get_if<SelectionError>(&selected)) {
      return new FinishedStream<IsActiveResponse>(to_status(*error));
    }
    auto stream =
        std::make_shared<ActivityStream>(*this, std::move(std::get<ScalerSelection>(selected)));
    stream->hold(stream);
    bool stopping = false;
    {
      std::lock_guard lock(streams_mutex_);
      stopping = stopping_;
      if (!stopping) {
        // Registered before its first look at the selection: a flip from now on reaches it.
        streams_.push_back(stream);
        metrics_.scaler_streams().Increment();
      }
    }
    if (stopping) {
      stream->close();
    } else {
      stream->open();
    }
    return stream.get();
  }

  grpc::ServerWriteReactor<GetMetricSpecResponse>* StreamMetricSpec(
      grpc::CallbackServerContext* /*context*/, const ScaledObjectRef* /*request*/) override {
    // KEDA then keeps to GetMetricSpec: a target that a reload changes reaches the HPA when
    // KEDA asks for the spec again.
    return new FinishedStream<GetMetricSpecResponse>(grpc::Status(
        grpc::StatusCode::UNIMPLEMENTED,
        "triggerd does not stream metric specs; GetMetricSpec answers with the current one"));
  }

 private:
  // One StreamIsActive call: sends `true` each time its selection becomes active
  // (ActivationEdges says when). Writes are serialized: one at a time, and a transition
  // that comes while a write is out is sent when it completes.
  //
  // Owned by itself (hold()) from the moment the call starts until OnDone(), and by whoever
  // is calling into it meanwhile (the registry copies a pointer before each use), so that it
  // lives until the last of them is done. gRPC operations (StartWrite, Finish) start outside
  // the lock: Finish may run OnDone() on the calling thread.
  class ActivityStream final : public grpc::ServerWriteReactor<IsActiveResponse> {
   public:
    ActivityStream(Impl& scaler, ScalerSelection selection)
        : scaler_(scaler), selection_(std::move(selection)) {
      active_message_.set_result(true);
    }

    void hold(std::shared_ptr<ActivityStream> self) { self_ = std::move(self); }

    bool selects(const TriggerTelemetry& trigger) const {
      return selection_.selects(trigger.name, trigger.function());
    }

    // The stream has just opened: `true` at once if its selection is already active.
    void open() {
      Step step;
      {
        std::lock_guard lock(mutex_);
        if (edges_.opened(selection_active())) step = write_locked();
      }
      take(step);
    }

    // A selected trigger became active (or idle).
    void changed(bool became_active) {
      Step step;
      {
        std::lock_guard lock(mutex_);
        if (edges_.changed(became_active, selection_active())) step = write_locked();
      }
      take(step);
    }

    // The server is stopping: the stream ends with OK once no write is out.
    void close() { finish(grpc::Status::OK); }

    void OnWriteDone(bool ok) override {
      Step step;
      {
        std::lock_guard lock(mutex_);
        writing_ = false;
        if (!ok && !finishing_) {
          // The call is gone (the client cancelled or its connection broke); OnCancel() may
          // come as well, and finds the stream finishing.
          finishing_ = true;
          status_ = grpc::Status::CANCELLED;
        }
        if (finishing_) {
          step = finish_now_locked();
        } else if (write_pending_) {
          write_pending_ = false;
          step = write_locked();
        }
      }
      take(step);
    }

    void OnCancel() override { finish(grpc::Status::CANCELLED); }

    void OnDone() override {
      scaler_.forget(this);
      // The last owner may be this one: the stream is destroyed as the function returns.
      std::shared_ptr<ActivityStream> self;
      {
        std::lock_guard lock(mutex_);
        self = std::move(self_);
      }
    }

   private:
    // What to start once the lock is released.
    struct Step {
      enum class Kind { kNone, kWrite, kFinish } kind = Kind::kNone;
      grpc::Status status;
    };

    bool selection_active() const {
      const auto triggers = scaler_.metrics_.triggers();
      return std::any_of(triggers->begin(), triggers->end(),
                         [&](const auto& trigger) { return selects(*trigger) && trigger->active(); });
    }

    Step write_locked() {
      if (finishing_) return {};
      if (writing_) {
        write_pending_ = true;
        return {};
      }
      writing_ = true;
      return {Step::Kind::kWrite, {}};
    }

    // Finish at once unless a write is out; OnWriteDone() finishes then.
    Step finish_now_locked() {
      if (writing_ || finish_started_) return {};
      finish_started_ = true;
      return {Step::Kind::kFinish, status_};
    }

    void finish(grpc::Status status) {
      Step step;
      {
        std::lock_guard lock(mutex_);
        if (!finishing_) {
          finishing_ = true;
          status_ = std::move(status);
          write_pending_ = false;
        }
        step = finish_now_locked();
      }
      take(step);
    }

    void take(Step& step) {
      if (step.kind == Step::Kind::kWrite) {
        StartWrite(&active_message_);
      } else if (step.kind == Step::Kind::kFinish) {
        Finish(std::move(step.status));
      }
    }

    Impl& scaler_;
    const ScalerSelection selection_;
    IsActiveResponse active_message_;  // {result: true}: every write sends it
    std::mutex mutex_;
    std::shared_ptr<ActivityStream> self_;
    ActivationEdges edges_;
    bool writing_ = false;         // a StartWrite is out
    bool write_pending_ = false;   // a transition came while it was: write again after it
    bool finishing_ = false;       // close(), a cancel or a failed write: no more writes
    bool finish_started_ = false;  // Finish() has been called
    grpc::Status status_;          // what Finish() ends the call with
  };

  // Against the triggers of this moment: a reload may have changed them since the last call.
  std::variant<ScalerSelection, SelectionError> select(const ScaledObjectRef& ref) const {
    const auto triggers = metrics_.triggers();
    std::vector<std::string> functions;  // what the identities' views point into
    functions.reserve(triggers->size());
    std::vector<TriggerIdentity> identities;
    identities.reserve(triggers->size());
    for (const auto& trigger : *triggers) {
      functions.push_back(trigger->function());
      identities.push_back(TriggerIdentity{trigger->name, functions.back()});
    }
    return select_triggers(metadata_value(ref, kSelectTrigger),
                           metadata_value(ref, kSelectFunction), identities);
  }

  std::vector<TriggerReading> read(const ScalerSelection& selection) const {
    std::vector<TriggerReading> readings;
    for (const auto& trigger : *metrics_.triggers()) {
      if (selection.selects(trigger->name, trigger->function())) {
        readings.push_back(read_trigger(*trigger));
      }
    }
    return readings;
  }

  // The stream is done: out of the registry, and out of triggerd_scaler_streams.
  void forget(const ActivityStream* stream) {
    std::lock_guard lock(streams_mutex_);
    const auto it = std::find_if(streams_.begin(), streams_.end(),
                                 [stream](const auto& open) { return open.get() == stream; });
    if (it == streams_.end()) return;  // ended by a stop before it was registered
    *it = std::move(streams_.back());
    streams_.pop_back();
    metrics_.scaler_streams().Decrement();
    if (streams_.empty()) streams_done_.notify_all();
  }

  Metrics& metrics_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex streams_mutex_;
  std::vector<std::shared_ptr<ActivityStream>> streams_;  // open StreamIsActive calls
  std::condition_variable streams_done_;                  // streams_ became empty
  bool stopping_ = false;
  int port_ = 0;
  // Last: destroyed first, while the service (this) and the streams' registry still stand.
  std::unique_ptr<grpc::Server> server_;
};

KedaScaler::KedaScaler(Metrics& metrics) : impl_(std::make_unique<Impl>(metrics)) {}
KedaScaler::~KedaScaler() = default;
void KedaScaler::start(const HostPort& address) { impl_->start(address); }
std::uint16_t KedaScaler::port() const { return impl_->port(); }
void KedaScaler::on_trigger_activity(const TriggerTelemetry& trigger, bool active) {
  impl_->on_trigger_activity(trigger, active);
}
void KedaScaler::stop(std::chrono::steady_clock::time_point deadline) { impl_->stop(deadline); }

}  // namespace triggerd
