// The KEDA external scaler of a running triggerd (server.scaler_listen), seen from the outside as
// KEDA sees it: a gRPC client of externalscaler.ExternalScaler (the stubs generated from KEDA's
// own externalscaler.proto) against the real binary, with webhook triggers whose function is
// down (a free port nobody listens on) so that every event posted stays in flight, and the
// trigger active, until a test brings the function up.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <boost/json/object.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "broker/keda/externalscaler.grpc.pb.h"
#include "tests/integration/end_to_end.hpp"
#include "tests/support/free_port.hpp"

namespace triggerd::testing {
namespace {

namespace es = externalscaler;
using std::chrono::steady_clock;
using ::testing::HasSubstr;

// A gRPC call that should answer at once still gets this long on a loaded machine.
constexpr milliseconds kCallTimeout(5000);
// How long a stream is watched for a message that must not come.
constexpr milliseconds kQuietWindow(1500);

// A function that is down keeps its events in flight: the dispatcher retries up to every 100 ms,
// 1000 times (longer than any test lasts), and delivers soon after the function comes up. (A
// function being woken from zero may also wait, with a backoff of at most 1 s, without using
// up retries; either way the events stay in flight while it is down.)
constexpr const char* kDelivery =
    "{retries: 1000, backoff: {policy: constant, delay: 100ms, max: 100ms}}";

// Triggers and functions:
//   billing   <- orders (backlog, target 2), refunds (backlog, target 2)
//   report    <- report-hook (demand mode, min_replicas 2)
//   audit     <- audit-a (backlog, target 3), audit-b (demand): mixed modes
std::string config_text(std::uint16_t function_port,
                        const std::optional<std::string>& scaler_listen) {
  const std::string url = "http://127.0.0.1:" + std::to_string(function_port);
  auto trigger = [](const std::string& name, const std::string& function,
                    const std::string& scaling) {
    return "  " + name + ":\n    function: " + function + "\n    source: {type: http, path: /hooks/" +
           name + "}\n    delivery: " + kDelivery + "\n    scaling: " + scaling + "\n";
  };
  return server_block((scaler_listen ? "  scaler_listen: " + *scaler_listen + "\n" : "") +
                      "  shutdown_timeout: 3s\n") +
         "functions:\n"
         "  billing:\n    url: " + url + "/billing\n"
         "  report:\n    url: " + url + "/report\n"
         "  audit:\n    url: " + url + "/audit\n"
         "triggers:\n" +
         trigger("orders", "billing", "{target_per_replica: 2}") +
         trigger("refunds", "billing", "{target_per_replica: 2}") +
         trigger("report-hook", "report", "{mode: demand, min_replicas: 2, max_replicas: 20}") +
         trigger("audit-a", "audit", "{target_per_replica: 3}") +
         trigger("audit-b", "audit", "{mode: demand}");
}

es::ScaledObjectRef scaled_object(const std::map<std::string, std::string>& metadata) {
  es::ScaledObjectRef ref;
  ref.set_name("fn-scaler");
  ref.set_namespace_("default");
  // What KEDA passes along beside the selector; the scaler does not look at it.
  (*ref.mutable_scalermetadata())["scalerAddress"] = "triggerd.default:9091";
  for (const auto& [key, value] : metadata) (*ref.mutable_scalermetadata())[key] = value;
  return ref;
}

es::ScaledObjectRef by_trigger(const std::string& name) {
  return scaled_object({{"trigger", name}});
}
es::ScaledObjectRef by_function(const std::string& name) {
  return scaled_object({{"function", name}});
}

void set_deadline(grpc::ClientContext& context, milliseconds timeout = kCallTimeout) {
  context.set_deadline(std::chrono::system_clock::now() + timeout);
}

// One StreamIsActive call, read on a thread of its own so that a test can wait for the next
// message with a timeout (and see that none comes). Cancelled when destroyed.
class ActivityStream {
 public:
  ActivityStream(es::ExternalScaler::Stub& stub, const es::ScaledObjectRef& ref,
                 std::optional<milliseconds> deadline = std::nullopt) {
    if (deadline) set_deadline(context_, *deadline);
    reader_ = stub.StreamIsActive(&context_, ref);
    thread_ = std::thread([this] {
      es::IsActiveResponse response;
      while (reader_->Read(&response)) {
        std::lock_guard lock(mutex_);
        messages_.push_back(response.result());
        changed_.notify_all();
      }
      grpc::Status status = reader_->Finish();
      std::lock_guard lock(mutex_);
      status_ = std::move(status);
      changed_.notify_all();
    });
  }
  ~ActivityStream() {
    cancel();
    thread_.join();
  }
  ActivityStream(const ActivityStream&) = delete;
  ActivityStream& operator=(const ActivityStream&) = delete;

  void cancel() { context_.TryCancel(); }

  // The next message, taken off the stream; nothing if none comes within `timeout` (or the
  // stream ended).
  std::optional<bool> next(milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return !messages_.empty() || status_.has_value(); });
    if (messages_.empty()) return std::nullopt;
    const bool message = messages_.front();
    messages_.pop_front();
    return message;
  }

  // How the stream ended, once it has; nothing if it still runs after `timeout`.
  std::optional<grpc::Status> ended(milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return status_.has_value(); });
    return status_;
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<es::IsActiveResponse>> reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<bool> messages_;
  std::optional<grpc::Status> status_;
  std::thread thread_;  // last: started once everything it uses stands
};

// A KEDA operator's connection: a channel of its own (not shared with other clients' channels,
// as separate processes would not share one).
struct ScalerClient {
  explicit ScalerClient(std::uint16_t port) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                        grpc::InsecureChannelCredentials(), arguments);
    stub = es::ExternalScaler::NewStub(channel);
  }
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<es::ExternalScaler::Stub> stub;
};

class KedaScaler : public ::testing::Test {
 protected:
  void SetUp() override {
    function_port_ = free_port();
    config_ = std::make_unique<TempFile>(config_text(function_port_, "127.0.0.1:0"));
    triggerd_ = std::make_unique<TriggerdProcess>(config_->path());
    ASSERT_NE(triggerd_->scaler_port(), 0) << "no \"KEDA scaler listening on\" line:\n" << log();
    client_ = std::make_unique<ScalerClient>(triggerd_->scaler_port());
  }

  es::ExternalScaler::Stub& stub() { return *client_->stub; }

  grpc::Status is_active(const es::ScaledObjectRef& ref, bool* result = nullptr) {
    grpc::ClientContext context;
    set_deadline(context);
    es::IsActiveResponse response;
    grpc::Status status = stub().IsActive(&context, ref, &response);
    if (result) *result = response.result();
    return status;
  }

  bool active(const std::string& trigger) {
    bool result = false;
    const grpc::Status status = is_active(by_trigger(trigger), &result);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return result;
  }

  grpc::Status metric_spec(const es::ScaledObjectRef& ref, es::GetMetricSpecResponse* response) {
    grpc::ClientContext context;
    set_deadline(context);
    return stub().GetMetricSpec(&context, ref, response);
  }

  grpc::Status metrics(const es::ScaledObjectRef& ref, es::GetMetricsResponse* response) {
    grpc::ClientContext context;
    set_deadline(context);
    es::GetMetricsRequest request;
    *request.mutable_scaledobjectref() = ref;
    request.set_metricname("whatever-keda-asks");
    return stub().GetMetrics(&context, request, response);
  }

  // The metric name and target of GetMetricSpec, which must answer OK with one spec whose int
  // and float targets agree.
  std::pair<std::string, std::int64_t> spec_of(const es::ScaledObjectRef& ref) {
    es::GetMetricSpecResponse response;
    const grpc::Status status = metric_spec(ref, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.metricspecs_size(), 1);
    if (response.metricspecs_size() != 1) return {"", -1};
    const es::MetricSpec& spec = response.metricspecs(0);
    EXPECT_EQ(spec.targetsizefloat(), static_cast<double>(spec.targetsize()));
    return {spec.metricname(), spec.targetsize()};
  }

  // The metric name and value of GetMetrics, checked the same way.
  std::pair<std::string, std::int64_t> value_of(const es::ScaledObjectRef& ref) {
    es::GetMetricsResponse response;
    const grpc::Status status = metrics(ref, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.metricvalues_size(), 1);
    if (response.metricvalues_size() != 1) return {"", -1};
    const es::MetricValue& value = response.metricvalues(0);
    EXPECT_EQ(value.metricvaluefloat(), static_cast<double>(value.metricvalue()));
    return {value.metricname(), value.metricvalue()};
  }

  // POSTs `count` events to the trigger's webhook; each must be accepted.
  void post(const std::string& trigger, int count = 1) {
    for (int i = 0; i < count; ++i) {
      const HttpResponse response = http_request("POST", triggerd_->webhook_port(),
                                                 "/hooks/" + trigger, "{\"n\":1}");
      ASSERT_EQ(response.status, 202) << response.error << response.body;
    }
  }

  boost::json::object trigger_status(const std::string& name) {
    const HttpResponse response = http_get(triggerd_->admin_port(), "/v1/triggers/" + name);
    EXPECT_EQ(response.status, 200) << response.error << response.body;
    if (response.status != 200) return {};
    return boost::json::parse(response.body).as_object();
  }
  std::int64_t backlog_total(const std::string& name) {
    return trigger_status(name).at("backlog_total").to_number<std::int64_t>();
  }
  std::int64_t desired_replicas(const std::string& name) {
    return trigger_status(name).at("desired_replicas").to_number<std::int64_t>();
  }
  bool backlog_reaches(const std::string& name, std::int64_t value) {
    return wait_until([&] { return backlog_total(name) == value; }, kEventually);
  }

  std::optional<double> open_streams() {
    return sample(http_get(triggerd_->admin_port(), "/metrics").body, "triggerd_scaler_streams");
  }
  bool open_streams_reach(double value) {
    return wait_until([&] { return open_streams() == value; }, kEventually);
  }

  // The function comes up on its port, takes every event in flight, and goes down again: the
  // triggers go idle.
  void deliver_everything(const std::vector<std::string>& triggers) {
    FunctionStub function(FunctionStubOptions{.port = function_port_});
    for (const std::string& trigger : triggers) {
      ASSERT_TRUE(backlog_reaches(trigger, 0)) << trigger << "\n" << log();
    }
  }

  std::string log() { return triggerd_->process().err(); }

  std::uint16_t function_port_ = 0;
  std::unique_ptr<TempFile> config_;
  std::unique_ptr<TriggerdProcess> triggerd_;
  std::unique_ptr<ScalerClient> client_;
};

TEST_F(KedaScaler, GetMetricSpecAndGetMetricsAnswerTheTriggersBacklogAndTarget) {
  EXPECT_EQ(spec_of(by_trigger("orders")), (std::pair<std::string, std::int64_t>{
                                                "triggerd-orders", 2}));
  EXPECT_EQ(value_of(by_trigger("orders")), (std::pair<std::string, std::int64_t>{
                                                 "triggerd-orders", 0}));

  post("orders", 3);
  ASSERT_TRUE(backlog_reaches("orders", 3)) << log();
  // The same figure KEDA's metrics-api scaler reads from /v1/triggers/NAME.
  EXPECT_EQ(value_of(by_trigger("orders")).second, backlog_total("orders"));
  EXPECT_EQ(spec_of(by_trigger("orders")).second, 2);
  EXPECT_EQ(value_of(by_trigger("refunds")).second, 0);
}

TEST_F(KedaScaler, FunctionSelectsEveryTriggerBoundToItAndSumsTheirBacklogs) {
  post("orders", 3);
  post("refunds", 2);
  ASSERT_TRUE(backlog_reaches("orders", 3)) << log();
  ASSERT_TRUE(backlog_reaches("refunds", 2)) << log();

  EXPECT_EQ(spec_of(by_function("billing")), (std::pair<std::string, std::int64_t>{
                                                 "triggerd-billing", 2}));
  EXPECT_EQ(value_of(by_function("billing")),
            (std::pair<std::string, std::int64_t>{
                "triggerd-billing", backlog_total("orders") + backlog_total("refunds")}));
  EXPECT_EQ(value_of(by_function("billing")).second, 5);
}

TEST_F(KedaScaler, DemandModeAnswersDesiredReplicasAgainstATargetOfOne) {
  // Idle: min_replicas.
  EXPECT_EQ(spec_of(by_trigger("report-hook")), (std::pair<std::string, std::int64_t>{
                                                     "triggerd-report-hook", 1}));
  EXPECT_EQ(value_of(by_trigger("report-hook")).second, desired_replicas("report-hook"));
  EXPECT_EQ(value_of(by_trigger("report-hook")).second, 2);

  post("report-hook", 4);
  ASSERT_TRUE(backlog_reaches("report-hook", 4)) << log();
  EXPECT_EQ(value_of(by_trigger("report-hook")).second, desired_replicas("report-hook"));
  EXPECT_EQ(value_of(by_function("report")).second, desired_replicas("report-hook"));
  EXPECT_EQ(spec_of(by_function("report")).second, 1);
}

TEST_F(KedaScaler, FunctionWhoseTriggersMixModesSumsTheirDesiredReplicas) {
  post("audit-a", 7);
  post("audit-b", 1);
  ASSERT_TRUE(backlog_reaches("audit-a", 7)) << log();
  ASSERT_TRUE(backlog_reaches("audit-b", 1)) << log();

  EXPECT_EQ(spec_of(by_function("audit")), (std::pair<std::string, std::int64_t>{
                                                "triggerd-audit", 1}));
  const std::int64_t desired = desired_replicas("audit-a") + desired_replicas("audit-b");
  EXPECT_EQ(desired_replicas("audit-a"), 3);  // ceil(7 / 3)
  EXPECT_EQ(value_of(by_function("audit")).second, desired);
  // Each trigger alone still answers in its own mode.
  EXPECT_EQ(spec_of(by_trigger("audit-a")).second, 3);
  EXPECT_EQ(value_of(by_trigger("audit-a")).second, 7);
}

TEST_F(KedaScaler, IsActiveFollowsTheBacklog) {
  EXPECT_FALSE(active("orders"));
  post("orders");
  EXPECT_TRUE(wait_until([&] { return active("orders"); }, kEventually)) << log();
  EXPECT_EQ(trigger_status("orders").at("active").as_bool(), true);

  bool function_active = false;
  ASSERT_TRUE(is_active(by_function("billing"), &function_active).ok());
  EXPECT_TRUE(function_active);
  ASSERT_TRUE(is_active(by_function("report"), &function_active).ok());
  EXPECT_FALSE(function_active);

  deliver_everything({"orders"});
  EXPECT_FALSE(active("orders"));
}

class KedaScalerErrors : public KedaScaler {
 protected:
  // What every RPC but StreamMetricSpec answers for one ScaledObject.
  std::vector<std::pair<std::string, grpc::Status>> every_rpc(const es::ScaledObjectRef& ref) {
    std::vector<std::pair<std::string, grpc::Status>> statuses;
    statuses.emplace_back("IsActive", is_active(ref));
    es::GetMetricSpecResponse spec;
    statuses.emplace_back("GetMetricSpec", metric_spec(ref, &spec));
    es::GetMetricsResponse values;
    statuses.emplace_back("GetMetrics", metrics(ref, &values));
    ActivityStream stream(stub(), ref);
    const std::optional<grpc::Status> ended = stream.ended(kCallTimeout);
    EXPECT_TRUE(ended) << "StreamIsActive did not end";
    EXPECT_FALSE(stream.next(milliseconds(0))) << "StreamIsActive sent a message";
    statuses.emplace_back("StreamIsActive", ended.value_or(grpc::Status::OK));
    return statuses;
  }
};

TEST_F(KedaScalerErrors, UnknownTriggerOrFunctionIsNotFoundNamingKeyAndValue) {
  for (const auto& [rpc, status] : every_rpc(by_trigger("nope"))) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << rpc;
    EXPECT_THAT(status.error_message(), HasSubstr("trigger: \"nope\"")) << rpc;
  }
  for (const auto& [rpc, status] : every_rpc(by_function("orders"))) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << rpc;
    EXPECT_THAT(status.error_message(), HasSubstr("function: \"orders\"")) << rpc;
  }
}

TEST_F(KedaScalerErrors, MissingOrDoubleSelectorIsInvalidArgumentNamingTheKeys) {
  for (const auto& [rpc, status] : every_rpc(scaled_object({}))) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << rpc;
    EXPECT_THAT(status.error_message(), HasSubstr("\"trigger: NAME\"")) << rpc;
    EXPECT_THAT(status.error_message(), HasSubstr("\"function: NAME\"")) << rpc;
  }
  for (const auto& [rpc, status] :
       every_rpc(scaled_object({{"trigger", "orders"}, {"function", "billing"}}))) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << rpc;
    EXPECT_THAT(status.error_message(), HasSubstr("both \"trigger\" and \"function\"")) << rpc;
  }
  EXPECT_EQ(open_streams(), 0.0);
}

TEST_F(KedaScaler, StreamMetricSpecIsUnimplemented) {
  grpc::ClientContext context;
  set_deadline(context);
  auto reader = stub().StreamMetricSpec(&context, by_trigger("orders"));
  es::GetMetricSpecResponse response;
  EXPECT_FALSE(reader->Read(&response));
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << status.error_message();
}

TEST_F(KedaScaler, StreamSendsTrueOnceOnEachTransitionToActive) {
  ActivityStream stream(stub(), by_trigger("orders"));
  ASSERT_TRUE(open_streams_reach(1)) << log();
  EXPECT_EQ(stream.next(milliseconds(300)), std::nullopt) << "a message while idle";

  post("orders");
  EXPECT_EQ(stream.next(kEventually), true) << log();
  // Still active (the function is down): nothing more, and never `false`.
  post("orders");
  EXPECT_EQ(stream.next(kQuietWindow), std::nullopt);
  EXPECT_TRUE(active("orders"));

  deliver_everything({"orders"});
  EXPECT_EQ(stream.next(kQuietWindow), std::nullopt) << "a message on going idle";

  post("orders");
  EXPECT_EQ(stream.next(kEventually), true) << log();
  EXPECT_EQ(stream.next(kQuietWindow), std::nullopt);
}

TEST_F(KedaScaler, StreamOpenedWhileActiveSendsTrueAtOnce) {
  post("orders");
  ASSERT_TRUE(wait_until([&] { return active("orders"); }, kEventually)) << log();
  ActivityStream stream(stub(), by_function("billing"));
  EXPECT_EQ(stream.next(kEventually), true);
  EXPECT_EQ(stream.next(kQuietWindow), std::nullopt);
}

TEST_F(KedaScaler, FunctionStreamSendsNothingWhileAnotherOfItsTriggersKeepsItActive) {
  ActivityStream stream(stub(), by_function("billing"));
  ASSERT_TRUE(open_streams_reach(1)) << log();
  post("orders");
  EXPECT_EQ(stream.next(kEventually), true) << log();
  post("refunds");  // the second trigger of billing becomes active: no transition of billing
  ASSERT_TRUE(wait_until([&] { return active("refunds"); }, kEventually));
  EXPECT_EQ(stream.next(kQuietWindow), std::nullopt);

  deliver_everything({"orders", "refunds"});
  post("refunds");
  EXPECT_EQ(stream.next(kEventually), true) << log();
}

TEST_F(KedaScaler, EveryOpenStreamOfEveryClientGetsTheTransition) {
  std::vector<std::unique_ptr<ScalerClient>> clients;
  std::vector<std::unique_ptr<ActivityStream>> streams;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(std::make_unique<ScalerClient>(triggerd_->scaler_port()));
    // Two streams per client, on one connection: by trigger and by function.
    streams.push_back(std::make_unique<ActivityStream>(*clients.back()->stub, by_trigger("orders")));
    streams.push_back(
        std::make_unique<ActivityStream>(*clients.back()->stub, by_function("billing")));
  }
  ActivityStream other(stub(), by_trigger("refunds"));
  ASSERT_TRUE(open_streams_reach(13)) << log();

  post("orders");
  for (std::size_t i = 0; i < streams.size(); ++i) {
    EXPECT_EQ(streams[i]->next(kEventually), true) << "stream " << i;
  }
  EXPECT_EQ(other.next(milliseconds(500)), std::nullopt) << "refunds stayed idle";
}

TEST_F(KedaScaler, ClientsThatCancelTheirStreamsLeaveNoneOpen) {
  EXPECT_EQ(open_streams(), 0.0);
  {
    std::vector<std::unique_ptr<ScalerClient>> clients;
    std::vector<std::unique_ptr<ActivityStream>> streams;
    for (int i = 0; i < 50; ++i) {
      clients.push_back(std::make_unique<ScalerClient>(triggerd_->scaler_port()));
      streams.push_back(std::make_unique<ActivityStream>(
          *clients.back()->stub, i % 2 ? by_trigger("orders") : by_function("billing")));
    }
    ASSERT_TRUE(open_streams_reach(50)) << open_streams().value_or(-1) << "\n" << log();
  }  // every stream cancelled, every channel closed
  EXPECT_TRUE(open_streams_reach(0)) << open_streams().value_or(-1);

  // Streams cancelled as soon as they are opened (racing their registration), and streams whose
  // client's deadline passes.
  {
    std::vector<std::unique_ptr<ActivityStream>> streams;
    for (int i = 0; i < 50; ++i) {
      streams.push_back(std::make_unique<ActivityStream>(stub(), by_trigger("orders")));
      streams.back()->cancel();
    }
    for (int i = 0; i < 5; ++i) {
      streams.push_back(
          std::make_unique<ActivityStream>(stub(), by_trigger("orders"), milliseconds(300)));
    }
    for (std::size_t i = 50; i < streams.size(); ++i) {
      const std::optional<grpc::Status> ended = streams[i]->ended(kEventually);
      ASSERT_TRUE(ended);
      EXPECT_EQ(ended->error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    }
  }
  EXPECT_TRUE(open_streams_reach(0)) << open_streams().value_or(-1);

  // The scaler still works.
  ActivityStream stream(stub(), by_trigger("orders"));
  ASSERT_TRUE(open_streams_reach(1));
  post("orders");
  EXPECT_EQ(stream.next(kEventually), true);
}

TEST_F(KedaScaler, ClientsThatDieWithoutCancellingLeaveNoStreamOpen) {
  // A KEDA operator killed mid-stream: its connections close under it, nothing cancels.
  ChildProcess client(KEDA_STREAM_CLIENT_BINARY,
                      {std::to_string(triggerd_->scaler_port()), "20", "orders"});
  ASSERT_TRUE(open_streams_reach(20)) << open_streams().value_or(-1) << "\n" << client.err();
  client.send_signal(SIGKILL);
  EXPECT_TRUE(client.wait_for_exit(kEventually));
  EXPECT_TRUE(open_streams_reach(0)) << open_streams().value_or(-1);
}

TEST_F(KedaScaler, StopEndsTheStreamsAndTriggerdExitsCleanly) {
  ActivityStream stream(stub(), by_trigger("orders"));
  ASSERT_TRUE(open_streams_reach(1)) << log();
  const auto stopping = steady_clock::now();
  triggerd_->process().send_signal(SIGTERM);
  // Ended with OK: KEDA opens a new stream 2 s later (to this replica or another) rather than
  // backing off as after an error.
  const std::optional<grpc::Status> ended = stream.ended(kEventually);
  ASSERT_TRUE(ended) << log();
  EXPECT_TRUE(ended->ok()) << ended->error_message();
  EXPECT_EQ(triggerd_->process().wait_for_exit(kEventually), 0) << log();
  // Well before shutdown_timeout (3 s): nothing waits for the idle connection of this client.
  EXPECT_LT(elapsed_ms(stopping, steady_clock::now()), 2000) << log();
}

TEST(KedaScalerStart, PortInUseIsAStartUpErrorNamingTheSetting) {
  // Something else listens on the port.
  FunctionStub occupant;
  const std::string address = "127.0.0.1:" + std::to_string(occupant.port());
  const TempFile config(config_text(free_port(), address));
  const RunResult run = run_process(triggerd_binary(), {"run", "-c", config.path()});
  ASSERT_TRUE(run.exit_code);
  EXPECT_NE(*run.exit_code, 0);
  EXPECT_THAT(run.err, HasSubstr("server.scaler_listen " + address)) << run.err;
}

TEST(KedaScalerStart, WithoutScalerListenNothingListensAndTheGaugeIsZero) {
  const TempFile config(config_text(free_port(), std::nullopt));
  TriggerdProcess triggerd(config.path());
  EXPECT_EQ(triggerd.scaler_port(), 0);
  EXPECT_THAT(triggerd.process().err(), ::testing::Not(HasSubstr("KEDA scaler")));
  EXPECT_EQ(sample(http_get(triggerd.admin_port(), "/metrics").body, "triggerd_scaler_streams"),
            0.0);
}

}  // namespace
}  // namespace triggerd::testing
