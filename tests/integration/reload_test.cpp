// Live reconfiguration (docs/configuration.md, "Changing the config"), end to end: the real
// triggerd binary under load from a webhook sender and a Redis stream producer, its config
// file rewritten (renamed over, as Kubernetes and editors do) or SIGHUPed. Every event sent is
// counted where it lands: delivered once, never lost, never twice.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <csignal>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/end_to_end.hpp"
#include "tests/integration/redis_test_helpers.hpp"
#include "tests/support/redis_server.hpp"

namespace triggerd::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr auto kDrained = std::chrono::seconds(20);

// How many times each body reached the function, for bodies starting with `prefix`.
std::map<std::string, int> bodies(const FunctionStub& function, const std::string& prefix) {
  std::map<std::string, int> seen;
  for (const auto& request : function.requests()) {
    if (request.body.starts_with(prefix)) ++seen[request.body];
  }
  return seen;
}

// Each of `prefix`0 .. `prefix`(count-1) reached the function exactly once.
void expect_each_once(const FunctionStub& function, const std::string& prefix, int count) {
  const auto seen = bodies(function, prefix);
  int lost = 0;
  int duplicated = 0;
  for (int i = 0; i < count; ++i) {
    const auto it = seen.find(prefix + std::to_string(i));
    if (it == seen.end()) {
      ++lost;
    } else if (it->second > 1) {
      duplicated += it->second - 1;
    }
  }
  EXPECT_EQ(lost, 0) << prefix << ": sent " << count;
  EXPECT_EQ(duplicated, 0) << prefix << ": sent " << count;
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(count)) << prefix << ": none made up";
}

// POSTs `prefix`0, 1, ... to a webhook path every `interval` until stopped; counts answers.
class WebhookLoad {
 public:
  WebhookLoad(std::uint16_t port, std::string path, std::string prefix,
              std::chrono::milliseconds interval = std::chrono::milliseconds(3))
      : thread_([this, port, path = std::move(path), prefix = std::move(prefix), interval] {
          while (!stop_) {
            const int n = sent_;
            const HttpResponse response =
                http_request("POST", port, path, prefix + std::to_string(n));
            if (response.status == 202) {
              ++sent_;
            } else {
              std::lock_guard lock(mutex_);
              refusals_.push_back(std::to_string(response.status) + " " + response.body);
              // The same body again: a sender retries what was refused.
            }
            std::this_thread::sleep_for(interval);
          }
        }) {}
  ~WebhookLoad() { stop(); }

  int stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return sent_;
  }
  int sent() const { return sent_; }
  std::vector<std::string> refusals() const {
    std::lock_guard lock(mutex_);
    return refusals_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> refusals_;
  std::thread thread_;
};

// XADDs `prefix`0, 1, ... to a stream every `interval` until stopped.
class StreamLoad {
 public:
  StreamLoad(std::uint16_t redis_port, std::string stream, std::string prefix,
             std::chrono::milliseconds interval = std::chrono::milliseconds(3))
      : thread_([this, redis_port, stream = std::move(stream), prefix = std::move(prefix),
                 interval] {
          RedisTestClient redis(redis_port);
          while (!stop_) {
            redis.command({"XADD", stream, "*", "data", prefix + std::to_string(sent_)});
            ++sent_;
            std::this_thread::sleep_for(interval);
          }
        }) {}
  ~StreamLoad() { stop(); }

  int stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return sent_;
  }
  int sent() const { return sent_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0};
  std::thread thread_;
};

class ReloadTest : public RedisTest {
 protected:
  // The webhook trigger `hook` at /hooks/a, plus `more` triggers; `server_extra` adds lines to
  // the server section (indented by 2).
  std::string config(const std::string& more, const std::string& server_extra = "",
                     const std::string& function_url = "") {
    std::string text = redis_config(server.port(),
                                    function_url.empty() ? function.url("/fn") : function_url,
                                    "  hook:\n    function: fn\n"
                                    "    source: {type: http, path: /hooks/a}\n" +
                                        more);
    const std::string anchor = "  shutdown_timeout: 2s\n";
    text.insert(text.find(anchor) + anchor.size(), server_extra);
    return text;
  }

  void start(const std::string& text) {
    file_ = std::make_unique<TempFile>(text);
    triggerd_ = std::make_unique<TriggerdProcess>(file_->path());
    ASSERT_TRUE(wait_until([&] { return http_get(admin(), "/readyz").status == 200; },
                           kEventually));
  }

  std::uint16_t admin() const { return triggerd_->admin_port(); }

  double reloads(const char* result) {
    return sample(http_get(admin(), "/metrics").body,
                  std::string("triggerd_config_reloads_total{result=\"") + result + "\"}")
        .value_or(-1);
  }

  // SIGHUP (or, with the watcher on, nothing) and the reload counted as `result`.
  bool reloaded(const char* result, double count) {
    return wait_until([&] { return reloads(result) == count; }, std::chrono::seconds(10));
  }

  std::unique_ptr<TempFile> file_;
  std::unique_ptr<TriggerdProcess> triggerd_;
};

TEST_F(ReloadTest, ATriggerAddedByRenamingTheFileStartsAndTheOthersAreNotDisturbed) {
  const std::string orders = stream_trigger("orders");
  start(config(orders));
  WebhookLoad hook_load(triggerd_->webhook_port(), "/hooks/a", "w-");
  StreamLoad stream_load(server.port(), "orders", "s-");
  ASSERT_TRUE(wait_until([&] { return hook_load.sent() > 50 && stream_load.sent() > 50; },
                         kEventually));

  // watch_config is on by default: renaming a new file over the old one is the whole reload.
  file_->write(config(orders + "  extra:\n    function: fn\n"
                              "    source: {type: http, path: /hooks/extra}\n"));
  ASSERT_TRUE(reloaded("success", 1)) << triggerd_->process().err();
  EXPECT_EQ(http_request("POST", triggerd_->webhook_port(), "/hooks/extra", "x-0").status, 202);
  const int before = hook_load.sent();
  ASSERT_TRUE(wait_until([&] { return hook_load.sent() > before + 50; }, kEventually));

  const int hooks = hook_load.stop();
  const int entries = stream_load.stop();
  ASSERT_TRUE(wait_until(
      [&] {
        return bodies(function, "w-").size() == static_cast<std::size_t>(hooks) &&
               bodies(function, "s-").size() == static_cast<std::size_t>(entries);
      },
      kDrained));
  EXPECT_THAT(hook_load.refusals(), ::testing::IsEmpty()) << "the webhook never turned away";
  expect_each_once(function, "w-", hooks);
  expect_each_once(function, "s-", entries);
  expect_each_once(function, "x-", 1);
  // Untouched: neither drained nor restarted, and their counters went on from where they were.
  const std::string log = triggerd_->process().err();
  EXPECT_THAT(log, HasSubstr("trigger extra added"));
  EXPECT_THAT(log, Not(HasSubstr("trigger hook ")));
  EXPECT_THAT(log, Not(HasSubstr("trigger orders ")));
  const std::string metrics = http_get(admin(), "/metrics").body;
  EXPECT_EQ(sample_in(metrics, "triggerd_events_delivered_total", "hook"), hooks);
  EXPECT_EQ(sample_in(metrics, "triggerd_events_delivered_total", "orders"), entries);
  EXPECT_EQ(sample_in(metrics, "triggerd_events_delivered_total", "extra"), 1);
}

TEST_F(ReloadTest, ARemovedStreamTriggerFinishesWhatItTookAndLeavesTheRestForItsReturn) {
  function.always_for("/fn", StubStep{.delay = std::chrono::milliseconds(300)});
  const std::string orders = stream_trigger("orders", {}, {"max_inflight: 5"});
  const std::string no_watch = "  watch_config: false\n";
  start(config(orders, no_watch));
  add_entries(redis, "orders", 0, 30);
  ASSERT_TRUE(wait_until(
      [&] { return trigger_sample(admin(), "triggerd_inflight_events", "orders") == 5; },
      kEventually));

  file_->write(config("", no_watch));
  triggerd_->process().send_signal(SIGHUP);
  ASSERT_TRUE(reloaded("success", 1)) << triggerd_->process().err();
  // Its source stopped reading at once, but that is the reload's doing: the replica stays
  // ready, and its webhook takes events, while the trigger drains.
  EXPECT_EQ(trigger_sample(admin(), "triggerd_source_up", "orders"), 0.0);
  EXPECT_EQ(http_get(admin(), "/readyz").status, 200) << http_get(admin(), "/readyz").body;
  // Drained: its series leave /metrics once what it took is finished.
  ASSERT_TRUE(wait_until(
      [&] { return !trigger_sample(admin(), "triggerd_events_received_total", "orders"); },
      kDrained));
  const auto taken = bodies(function, "entry-");
  EXPECT_GE(taken.size(), 5u);
  EXPECT_LT(taken.size(), 30u) << "it stopped taking at the reload";
  for (const auto& [body, times] : taken) EXPECT_EQ(times, 1) << body;
  // What it delivered is acknowledged; what it had read ahead and not taken stays pending, for
  // the next reader of the group.
  ReplyPtr still_pending = redis.command({"XPENDING", "orders", "triggerd", "-", "+", "100"});
  ASSERT_EQ(still_pending->type, REDIS_REPLY_ARRAY);
  for (std::size_t i = 0; i < still_pending->elements; ++i) {
    const std::string id = still_pending->element[i]->element[0]->str;
    ReplyPtr entry = redis.command({"XRANGE", "orders", id, id});
    ASSERT_EQ(entry->elements, 1u);
    const std::string data = entry->element[0]->element[1]->element[1]->str;
    EXPECT_EQ(taken.count(data), 0u) << data << " was delivered but is still pending";
  }
  EXPECT_THAT(triggerd_->process().err(), HasSubstr("trigger orders removed"));
  EXPECT_EQ(http_get(admin(), "/v1/triggers/orders").status, 404);

  // Back again, in a restarted process: the rest of the stream, and nothing twice.
  triggerd_->process().send_signal(SIGTERM);
  ASSERT_EQ(triggerd_->process().wait_for_exit(std::chrono::seconds(10)), 0)
      << triggerd_->process().err();
  function.always_for("/fn", StubStep{});
  file_->write(config(orders, no_watch));
  triggerd_ = std::make_unique<TriggerdProcess>(file_->path());
  ASSERT_TRUE(wait_until([&] { return bodies(function, "entry-").size() == 30; }, kDrained));
  expect_each_once(function, "entry-", 30);
}

TEST_F(ReloadTest, ATriggerChangedTwiceWhileItsFirstVersionDrainsEndsOnItsNewestVersion) {
  function.always_for("/fn", StubStep{.delay = std::chrono::milliseconds(400)});
  const std::string no_watch = "  watch_config: false\n";
  auto orders = [](const std::string& claim_idle) {
    return stream_trigger("orders", {"claim_idle: " + claim_idle}, {"max_inflight: 5"});
  };
  start(config(orders("30s"), no_watch));
  add_entries(redis, "orders", 0, 20);
  ASSERT_TRUE(wait_until(
      [&] { return trigger_sample(admin(), "triggerd_inflight_events", "orders") == 5; },
      kEventually));

  // A new source spec restarts the trigger; the second change comes while the first version
  // still drains, so the middle version never starts.
  file_->write(config(orders("31s"), no_watch));
  triggerd_->process().send_signal(SIGHUP);
  ASSERT_TRUE(reloaded("success", 1)) << triggerd_->process().err();
  file_->write(config(orders("32s"), no_watch));
  triggerd_->process().send_signal(SIGHUP);
  ASSERT_TRUE(reloaded("success", 2)) << triggerd_->process().err();

  function.always_for("/fn", StubStep{});
  ASSERT_TRUE(wait_until([&] { return bodies(function, "entry-").size() == 20; }, kDrained))
      << triggerd_->process().err();
  expect_each_once(function, "entry-", 20);
  EXPECT_EQ(triggerd_->process().err().find("cannot start"), std::string::npos);
  EXPECT_TRUE(wait_until(
      [&] { return trigger_sample(admin(), "triggerd_source_up", "orders") == 1.0; },
      kEventually));
}

TEST_F(ReloadTest, AChangedFunctionUrlTakesTheNextAttemptsAndLosesNothing) {
  FunctionStub other;
  const std::string no_watch = "  watch_config: false\n";
  start(config("", no_watch));
  WebhookLoad load(triggerd_->webhook_port(), "/hooks/a", "w-");
  ASSERT_TRUE(wait_until([&] { return load.sent() > 50; }, kEventually));

  file_->write(config("", no_watch, other.url("/fn")));
  triggerd_->process().send_signal(SIGHUP);
  ASSERT_TRUE(reloaded("success", 1)) << triggerd_->process().err();
  const int at_reload = load.sent();
  ASSERT_TRUE(wait_until([&] { return load.sent() > at_reload + 50; }, kEventually));
  const int sent = load.stop();

  ASSERT_TRUE(wait_until(
      [&] { return bodies(function, "w-").size() + bodies(other, "w-").size() >=
                   static_cast<std::size_t>(sent); },
      kDrained));
  auto seen = bodies(function, "w-");
  for (const auto& [body, times] : bodies(other, "w-")) seen[body] += times;
  int lost = 0, duplicated = 0;
  for (int i = 0; i < sent; ++i) {
    const int times = seen["w-" + std::to_string(i)];
    lost += times == 0;
    duplicated += std::max(times - 1, 0);
  }
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(duplicated, 0);
  EXPECT_EQ(load.refusals().size(), 0u);
  // Every event sent after the reload was counted went to the new URL.
  for (int i = at_reload; i < sent; ++i) {
    EXPECT_EQ(bodies(other, "w-").count("w-" + std::to_string(i)), 1u) << i;
  }
  EXPECT_GT(bodies(function, "w-").size(), 0u);
  EXPECT_THAT(triggerd_->process().err(), HasSubstr("function fn changed"));
}

TEST_F(ReloadTest, AnInvalidEditIsRefusedAndDisturbsNothingThenAValidOneApplies) {
  const std::string orders = stream_trigger("orders");
  start(config(orders));  // watched: the edits below need no signal
  WebhookLoad load(triggerd_->webhook_port(), "/hooks/a", "w-");
  ASSERT_TRUE(wait_until([&] { return load.sent() > 20; }, kEventually));

  file_->write(config(orders + "  broken:\n    function: nope\n"
                                             "    source: {type: http, path: /hooks/b}\n"));
  ASSERT_TRUE(reloaded("failure", 1)) << triggerd_->process().err();
  const auto status = boost::json::parse(http_get(admin(), "/v1/config").body).as_object();
  EXPECT_EQ(status.at("last_reload").as_object().at("result").as_string(), "failure");
  EXPECT_THAT(std::string(status.at("last_reload").as_object().at("error").as_string()),
              HasSubstr("triggers.broken.function"));
  EXPECT_EQ(http_get(admin(), "/v1/triggers/broken").status, 404);

  file_->write(config(orders + "  fixed:\n    function: fn\n"
                                             "    source: {type: http, path: /hooks/b}\n"));
  ASSERT_TRUE(reloaded("success", 1)) << triggerd_->process().err();
  EXPECT_EQ(http_request("POST", triggerd_->webhook_port(), "/hooks/b", "b-0").status, 202);
  const int sent = load.stop();
  ASSERT_TRUE(wait_until([&] { return bodies(function, "w-").size() ==
                                      static_cast<std::size_t>(sent); }, kDrained));
  expect_each_once(function, "w-", sent);
  expect_each_once(function, "b-", 1);
  EXPECT_EQ(load.refusals().size(), 0u);
}

TEST_F(ReloadTest, TheAdminTokenIsRequiredRotatedByAnEditAndNeverLogged) {
  start(config("", "  admin_auth: {bearer: {token: tok-first-1a2b}}\n"));
  auto metrics_with = [&](const std::string& token) {
    return http_request("GET", admin(), "/metrics", "", {{"Authorization", "Bearer " + token}})
        .status;
  };
  EXPECT_EQ(http_get(admin(), "/metrics").status, 401);
  EXPECT_EQ(http_get(admin(), "/v1/config").status, 401);
  EXPECT_EQ(metrics_with("tok-first-1a2b"), 200);
  EXPECT_EQ(http_get(admin(), "/livez").status, 200) << "the probes stay open";

  file_->write(config("", "  admin_auth: {bearer: {token: tok-second-3c4d}}\n"));
  ASSERT_TRUE(wait_until([&] { return metrics_with("tok-second-3c4d") == 200; }, kEventually))
      << triggerd_->process().err();
  EXPECT_EQ(metrics_with("tok-first-1a2b"), 401);

  file_->write(config(""));
  ASSERT_TRUE(wait_until([&] { return http_get(admin(), "/metrics").status == 200; },
                         kEventually));
  EXPECT_EQ(reloads("success"), 2);
  triggerd_->process().send_signal(SIGTERM);
  triggerd_->process().wait_for_exit(std::chrono::seconds(10));
  const std::string log = triggerd_->process().err();
  EXPECT_THAT(log, HasSubstr("server.admin_auth applied"));
  EXPECT_THAT(log, Not(HasSubstr("tok-first")));
  EXPECT_THAT(log, Not(HasSubstr("tok-second")));
}

// /proc/PID: resident memory in KiB, open file descriptors, threads.
struct Footprint {
  long rss_kib;
  std::size_t fds;
  std::size_t threads;
};

Footprint footprint(pid_t pid) {
  auto count = [](const std::string& dir) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++n;
    return n;
  };
  const std::string proc = "/proc/" + std::to_string(pid);
  return {rss_kib(pid), count(proc + "/fd"), count(proc + "/task")};
}

TEST_F(ReloadTest, AHundredReloadsUnderLoadLeakNothingAndDeliverEveryEventOnce) {
  const std::string no_watch = "  watch_config: false\n";
  // Each reload changes the function (a new client) and adds or removes a stream trigger (a
  // source that connects, drains and closes).
  auto version = [&](int i) {
    std::string text = config(i % 2 ? stream_trigger("extra") : "", no_watch);
    const std::string timeout = "timeout: 5s";
    text.replace(text.find(timeout), timeout.size(), "timeout: " + std::to_string(5 + i % 2) + "s");
    return text;
  };
  start(version(0));
  WebhookLoad load(triggerd_->webhook_port(), "/hooks/a", "w-", std::chrono::milliseconds(2));
  const pid_t pid = triggerd_->process().pid();
  Footprint warm{};
  for (int i = 1; i <= 100; ++i) {
    file_->write(version(i));
    triggerd_->process().send_signal(SIGHUP);
    ASSERT_TRUE(reloaded("success", i)) << "reload " << i << "\n" << triggerd_->process().err();
    if (i == 10) {
      // After the first reloads: pools, buffers and the allocator's arenas at their size.
      ASSERT_TRUE(wait_until([&] { return !trigger_sample(admin(), "triggerd_inflight_events",
                                                          "extra"); }, kDrained));
      warm = footprint(pid);
    }
  }
  ASSERT_TRUE(wait_until(
      [&] { return !trigger_sample(admin(), "triggerd_inflight_events", "extra"); }, kDrained));
  const int sent = load.stop();
  ASSERT_TRUE(wait_until([&] { return bodies(function, "w-").size() ==
                                      static_cast<std::size_t>(sent); }, kDrained));
  expect_each_once(function, "w-", sent);
  EXPECT_EQ(load.refusals().size(), 0u);

  const Footprint after = footprint(pid);
  std::printf("after 10 reloads: RSS %ld KiB, %zu descriptors, %zu threads; after 100: %ld KiB, "
              "%zu, %zu\n",
              warm.rss_kib, warm.fds, warm.threads, after.rss_kib, after.fds, after.threads);
#if !defined(TRIGGERD_SANITIZED)
  // Under a sanitizer, shadow memory and ASan's quarantine grow it regardless (and LeakSanitizer
  // checks the leaks themselves at exit).
  EXPECT_LE(after.rss_kib, warm.rss_kib + 8 * 1024) << "RSS after 10 reloads " << warm.rss_kib
                                                     << " KiB, after 100 " << after.rss_kib;
#endif
  EXPECT_LE(after.fds, warm.fds + 2) << "open descriptors";
  EXPECT_EQ(after.threads, warm.threads);
  EXPECT_EQ(reloads("failure"), 0);
}

}  // namespace
}  // namespace triggerd::testing
