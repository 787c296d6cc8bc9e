// The config watcher on real inotify, in temp folders, with a real io_context: each way a
// config file changes in practice gives one callback, and what is not a change gives none.
#include "broker/config_watcher.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/checksum.hpp"

namespace triggerd {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The settle time of most tests: short, as the tests wait for it, and long enough that the
// events of one change (written at once by the test) fall into one burst.
constexpr auto kSettle = 50ms;

class TempFolder {
 public:
  TempFolder() {
    std::string pattern = (fs::temp_directory_path() / "triggerd-watch-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The same file, truncated and written: what `echo ... > FILE` and some editors do.
void write_in_place(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

// A new file written beside it and renamed over it: what most editors and `mv` do.
void rename_over(const fs::path& path, const std::string& content) {
  const fs::path beside = path.parent_path() / (path.filename().string() + ".new");
  write_in_place(beside, content);
  fs::rename(beside, path);
}

// A ConfigMap volume, written the way kubelet's atomic writer writes it: every key in a new
// `..TIMESTAMP` folder, a `..data_tmp` symlink to that folder renamed over `..data` (the one
// atomic step), a symlink `KEY -> ..data/KEY` per key (made once, never changed), and the old
// folder removed last.
class ConfigMapVolume {
 public:
  explicit ConfigMapVolume(fs::path folder) : folder_(std::move(folder)) {}

  void publish(const std::map<std::string, std::string>& keys) {
    char name[64];
    std::snprintf(name, sizeof(name), "..2026_12_07_10_00_%02d.123456789", ++generation_);
    fs::create_directory(folder_ / name);
    for (const auto& [key, content] : keys) write_in_place(folder_ / name / key, content);
    fs::create_directory_symlink(name, folder_ / "..data_tmp");
    fs::rename(folder_ / "..data_tmp", folder_ / "..data");
    for (const auto& [key, content] : keys) {
      if (!fs::is_symlink(folder_ / key)) fs::create_symlink("..data/" + key, folder_ / key);
    }
    if (!current_.empty()) fs::remove_all(folder_ / current_);
    current_ = name;
  }

 private:
  fs::path folder_;
  int generation_ = 0;
  std::string current_;  // the ..TIMESTAMP folder that ..data points at
};

class ConfigWatcherTest : public ::testing::Test {
 protected:
  void watch(const fs::path& path, std::chrono::milliseconds settle = kSettle) {
    watcher_ = std::make_unique<ConfigWatcher>(
        io_, path.string(), [this] { ++changes_; },
        [this](std::string_view reason) { failures_.emplace_back(reason); },
        ConfigWatcher::Options{settle});
    const auto checksum = config::checksum_of_file(path.string());
    ASSERT_TRUE(checksum);
    ASSERT_TRUE(watcher_->start(*checksum));
    ASSERT_TRUE(watcher_->watching());
  }

  void run_for(std::chrono::milliseconds duration) {
    io_.restart();  // the loop may have run out of work (after stop())
    io_.run_for(duration);
  }

  // Runs the loop until `done` or for at most `limit`; returns `done()`.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    const auto deadline = Clock::now() + limit;
    while (!done() && Clock::now() < deadline) run_for(5ms);
    return done();
  }

  // The callbacks that a change made: waits for the first, then for as long again as a
  // second one would need to come (every event of the change was raised before this runs).
  int callbacks_after_settling(std::chrono::milliseconds settle = kSettle) {
    run_until([this] { return changes_ > 0; });
    run_for(settle * 3);
    return changes_;
  }

  TempFolder folder_;
  const fs::path file_ = folder_.path() / "triggerd.yaml";
  boost::asio::io_context io_;
  std::unique_ptr<ConfigWatcher> watcher_;  // destroyed before the loop it runs on
  int changes_ = 0;
  std::vector<std::string> failures_;
};

TEST_F(ConfigWatcherTest, FileWrittenInPlaceCallsBackOnce) {
  write_in_place(file_, "functions: {}\ntriggers: {}\n");
  watch(file_);
  write_in_place(file_, "functions: {}\ntriggers: {}\nlog: {level: debug}\n");
  EXPECT_EQ(callbacks_after_settling(), 1);
  EXPECT_TRUE(failures_.empty());
}

TEST_F(ConfigWatcherTest, FileRenamedOverCallsBackOnce) {
  write_in_place(file_, "functions: {}\ntriggers: {}\n");
  watch(file_);
  rename_over(file_, "functions: {}\ntriggers: {}\nlog: {level: debug}\n");
  EXPECT_EQ(callbacks_after_settling(), 1);

  // The watch follows the new file: a write in place to it is seen too.
  write_in_place(file_, "functions: {}\ntriggers: {}\nlog: {level: warn}\n");
  run_until([this] { return changes_ > 1; });
  EXPECT_EQ(changes_, 2);
}

TEST_F(ConfigWatcherTest, ConfigMapUpdateCallsBackOnceEachTime) {
  ConfigMapVolume volume(folder_.path());
  volume.publish({{"triggerd.yaml", "functions: {}\ntriggers: {}\n"}, {"other", "1"}});
  ASSERT_TRUE(fs::is_symlink(file_));
  watch(file_);

  volume.publish(
      {{"triggerd.yaml", "functions: {}\ntriggers: {}\nlog: {level: debug}\n"}, {"other", "1"}});
  EXPECT_EQ(callbacks_after_settling(), 1);

  // The next update goes through a new ..TIMESTAMP folder again: still seen.
  volume.publish(
      {{"triggerd.yaml", "functions: {}\ntriggers: {}\nlog: {level: warn}\n"}, {"other", "1"}});
  run_until([this] { return changes_ > 1; });
  run_for(kSettle * 3);
  EXPECT_EQ(changes_, 2);
}

TEST_F(ConfigWatcherTest, FileBehindASymlinkIntoAnotherFolderWrittenInPlaceCallsBackOnce) {
  // E.g. /etc/triggerd.yaml -> /srv/config/triggerd.yaml: the write happens in a folder that
  // is not the config path's.
  const fs::path elsewhere = folder_.path() / "elsewhere";
  fs::create_directory(elsewhere);
  write_in_place(elsewhere / "real.yaml", "functions: {}\ntriggers: {}\n");
  fs::create_symlink(elsewhere / "real.yaml", file_);
  watch(file_);
  write_in_place(elsewhere / "real.yaml", "functions: {}\ntriggers: {}\nlog: {level: debug}\n");
  EXPECT_EQ(callbacks_after_settling(), 1);
}

TEST_F(ConfigWatcherTest, BurstOfWritesCallsBackOnceAfterItSettles) {
  // A burst longer than the settle time, made of writes closer together than it: one
  // callback, after the last write. (A timer started by the first event and not pushed back
  // would call back in the middle of the burst, and again after it.)
  constexpr auto kBurstSettle = 200ms;
  write_in_place(file_, "functions: {}\ntriggers: {}\n");
  watch(file_, kBurstSettle);
  auto last_write = Clock::now();
  auto longest_gap = Clock::duration::zero();
  for (int i = 0; i < 10; ++i) {
    write_in_place(file_, "functions: {}\ntriggers: {}\n# edit " + std::to_string(i) + "\n");
    longest_gap = std::max(longest_gap, Clock::now() - last_write);
    last_write = Clock::now();
    run_for(30ms);  // the watcher reads each write's events as they come
  }
  ASSERT_LT(longest_gap, kBurstSettle) << "the machine stalled: the writes were no burst";
  EXPECT_EQ(changes_, 0) << "called back before the burst settled";
  EXPECT_EQ(callbacks_after_settling(kBurstSettle), 1);
}

TEST_F(ConfigWatcherTest, AnotherFileInTheFolderIsNotLookedAt) {
  write_in_place(file_, "functions: {}\ntriggers: {}\n");
  write_in_place(folder_.path() / "secrets.yaml", "a");
  watch(file_);
  write_in_place(folder_.path() / "secrets.yaml", "b");
  rename_over(folder_.path() / "secrets.yaml", "c");
  write_in_place(folder_.path() / "triggerd.yaml.bak", "d");
  fs::remove(folder_.path() / "triggerd.yaml.bak");
  run_for(kSettle * 4);
  EXPECT_EQ(watcher_->comparisons(), 0u) << "an event of another file was taken for the config's";
  EXPECT_EQ(changes_, 0);
}

TEST_F(ConfigWatcherTest, ConfigMapUpdateThatLeavesTheFileAsItWasIsNoChange) {
  ConfigMapVolume volume(folder_.path());
  volume.publish({{"triggerd.yaml", "functions: {}\ntriggers: {}\n"}, {"other", "1"}});
  watch(file_);
  // Another key of the ConfigMap changed: kubelet swaps every key to a new folder all the same.
  volume.publish({{"triggerd.yaml", "functions: {}\ntriggers: {}\n"}, {"other", "2"}});
  ASSERT_TRUE(run_until([this] { return watcher_->comparisons() > 0; }))
      << "the swap was not seen at all";
  run_for(kSettle * 3);
  EXPECT_EQ(changes_, 0);
}

TEST_F(ConfigWatcherTest, NoCallbackAfterStop) {
  // Long enough that the change is surely read before stop(), and stop() surely comes before
  // the burst has settled, however slow the machine.
  constexpr auto kLongSettle = 500ms;
  write_in_place(file_, "functions: {}\ntriggers: {}\n");
  watch(file_, kLongSettle);
  write_in_place(file_, "functions: {}\ntriggers: {}\nlog: {level: debug}\n");
  run_for(20ms);  // the change is read; its callback waits for the burst to settle
  watcher_->stop();
  EXPECT_FALSE(watcher_->watching());
  run_for(kLongSettle + 100ms);
  write_in_place(file_, "functions: {}\ntriggers: {}\nlog: {level: warn}\n");
  run_for(kSettle * 3);
  EXPECT_EQ(changes_, 0);
  EXPECT_EQ(watcher_->comparisons(), 0u);
}

TEST_F(ConfigWatcherTest, ChangeBetweenLoadingAndStartIsNotLost) {
  write_in_place(file_, "functions: {}\ntriggers: {}\nlog: {level: debug}\n");
  watcher_ = std::make_unique<ConfigWatcher>(
      io_, file_.string(), [this] { ++changes_; }, [](std::string_view) {},
      ConfigWatcher::Options{kSettle});
  // The running config came from other bytes than the file holds now.
  ASSERT_TRUE(watcher_->start(config::checksum_of("functions: {}\ntriggers: {}\n")));
  EXPECT_EQ(callbacks_after_settling(), 1);
}

TEST_F(ConfigWatcherTest, MissingFileIsNoChangeAndComingBackAsItWasNeither) {
  const std::string text = "functions: {}\ntriggers: {}\n";
  write_in_place(file_, text);
  watch(file_);
  fs::remove(file_);
  ASSERT_TRUE(run_until([this] { return watcher_->comparisons() > 0; }));
  write_in_place(file_, text);
  ASSERT_TRUE(run_until([this] { return watcher_->comparisons() > 1; }));
  run_for(kSettle * 3);
  EXPECT_EQ(changes_, 0) << "neither a missing file nor the same bytes again is a change";

  write_in_place(file_, text + "log: {level: debug}\n");
  EXPECT_EQ(callbacks_after_settling(), 1);
}

TEST_F(ConfigWatcherTest, FolderThatCannotBeWatchedIsReportedAndNotWatched) {
  const fs::path nowhere = folder_.path() / "no-such-folder" / "triggerd.yaml";
  ConfigWatcher watcher(
      io_, nowhere.string(), [this] { ++changes_; },
      [this](std::string_view reason) { failures_.emplace_back(reason); },
      ConfigWatcher::Options{kSettle});
  EXPECT_FALSE(watcher.start(config::checksum_of("")));
  EXPECT_FALSE(watcher.watching());
  ASSERT_EQ(failures_.size(), 1u);
  EXPECT_NE(failures_[0].find("cannot watch folder"), std::string::npos) << failures_[0];
  EXPECT_NE(failures_[0].find("No such file or directory"), std::string::npos) << failures_[0];
  run_for(kSettle * 2);  // nothing is left running on the loop
  EXPECT_EQ(changes_, 0);
}

TEST_F(ConfigWatcherTest, NoInotifyLeftIsReportedAndNotWatched) {
  write_in_place(file_, "functions: {}\ntriggers: {}\n");
  ConfigWatcher watcher(
      io_, file_.string(), [this] { ++changes_; },
      [this](std::string_view reason) { failures_.emplace_back(reason); },
      ConfigWatcher::Options{kSettle});
  // No descriptor left for an inotify instance: the same EMFILE as a full
  // fs.inotify.max_user_instances, without changing the machine's settings.
  const auto checksum = config::checksum_of_file(file_.string());
  ASSERT_TRUE(checksum);
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  const int lowest_free = dup(0);
  ASSERT_GE(lowest_free, 0);
  close(lowest_free);
  rlimit none_left = before;
  none_left.rlim_cur = static_cast<rlim_t>(lowest_free);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &none_left), 0);
  const bool started = watcher.start(*checksum);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &before), 0);

  EXPECT_FALSE(started);
  EXPECT_FALSE(watcher.watching());
  ASSERT_EQ(failures_.size(), 1u);
  EXPECT_NE(failures_[0].find("fs.inotify.max_user_instances"), std::string::npos) << failures_[0];
  write_in_place(file_, "functions: {}\ntriggers: {}\nlog: {level: debug}\n");
  run_for(kSettle * 2);
  EXPECT_EQ(changes_, 0);
}

}  // namespace
}  // namespace triggerd
