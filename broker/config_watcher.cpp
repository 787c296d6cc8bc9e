#include "broker/config_watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <utility>

#include "config/checksum.hpp"
#include "core/logging.hpp"

namespace triggerd {
namespace {

namespace asio = boost::asio;

// On the folder: every way a name can come to point at other bytes. IN_DELETE too, so that a
// file deleted and written again later is compared again (a missing file is not a change).
constexpr std::uint32_t kFolderEvents =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE;
// On the file itself (the target of its symlinks): written in place, whichever path wrote it.
// Only IN_CLOSE_WRITE, not IN_MODIFY: the file is compared once the writer is done with it,
// not half-written. IN_IGNORED (the file deleted) comes without being asked for.
constexpr std::uint32_t kFileEvents = IN_CLOSE_WRITE;

std::string folder_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string name_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

using Names = std::set<std::string, std::less<>>;

// The names in the file's folder whose change can change what the path reads: its own, and,
// when it is a symlink relative to its folder, the first step of the link (kubelet's
// `..data`, which is swapped while `triggerd.yaml -> ..data/triggerd.yaml` stays).
Names names_that_matter(const std::string& path) {
  Names names{name_of(path)};
  std::array<char, 4096> target{};
  const ssize_t size = ::readlink(path.c_str(), target.data(), target.size() - 1);
  if (size <= 0) return names;  // not a symlink (or gone): its own name is all
  std::string_view link(target.data(), static_cast<std::size_t>(size));
  if (link.starts_with('/')) return names;  // into another folder: the file watch covers it
  while (link.starts_with("./")) link.remove_prefix(2);
  const std::string_view first = link.substr(0, link.find('/'));
  if (!first.empty() && first != "." && first != "..") names.emplace(first);
  return names;
}

// What an operator can do about a failed watch: name the limit that errno points at.
std::string why_not(int error) {
  std::string text = std::strerror(error);
  if (error == EMFILE) {
    text +=
        "; the inotify instance limit (fs.inotify.max_user_instances) or the open file limit "
        "is reached";
  } else if (error == ENOSPC) {
    text += "; the inotify watch limit (fs.inotify.max_user_watches) is reached";
  }
  return text;
}

}  // namespace

class ConfigWatcher::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, std::string path, OnChange on_change, OnWatchFailure on_watch_failure,
       Options options)
      : path_(std::move(path)),
        folder_(folder_of(path_)),
        on_change_(std::move(on_change)),
        on_watch_failure_(std::move(on_watch_failure)),
        options_(options),
        inotify_(io),
        settle_timer_(io),
        log_(logging::get("config")) {}

  bool start(std::string running_checksum) {
    last_checksum_ = std::move(running_checksum);
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
      watch_failed("cannot watch " + path_ + " for changes: " + why_not(errno));
      return false;
    }
    boost::system::error_code assign_error;
    inotify_.assign(fd, assign_error);
    if (assign_error) {
      ::close(fd);
      watch_failed("cannot watch " + path_ + " for changes: " + assign_error.message());
      return false;
    }
    if (!watch_folder()) {
      boost::system::error_code ignored;
      inotify_.close(ignored);
      return false;
    }
    watch_file();
    reading_ = true;
    read_events();
    log_->info("watching {} for changes", path_);
    // A change between the load and now raised its events before there was a watch.
    if (config::checksum_of_file(path_) != last_checksum_) settle_later();
    return true;
  }

  bool watching() const { return reading_ && !stopped_ && folder_wd_ >= 0; }
  std::size_t comparisons() const { return comparisons_; }

  void stop() {
    stopped_ = true;
    settle_timer_.cancel();
    // Closing the descriptor removes every watch with it and cancels the pending read.
    boost::system::error_code ignored;
    inotify_.close(ignored);
  }

 private:
  void watch_failed(const std::string& reason) {
    log_->warn("{}; the config is reloaded on SIGHUP only", reason);
    if (on_watch_failure_) on_watch_failure_(reason);
  }

  // The folder watch is the one that must work: without it no rename or swap is seen.
  bool watch_folder() {
    const int wd = ::inotify_add_watch(inotify_.native_handle(), folder_.c_str(), kFolderEvents);
    if (wd < 0) {
      watch_failed("cannot watch folder " + folder_ + " for changes to " + path_ + ": " +
                   why_not(errno));
      folder_wd_ = -1;
      return false;
    }
    folder_wd_ = wd;
    names_ = names_that_matter(path_);
    return true;
  }

  // The file the path resolves to now. Watched again after each change, as a swap or a
  // rename makes the path resolve to another file; the old file's watch goes.
  void watch_file() {
    const int wd = ::inotify_add_watch(inotify_.native_handle(), path_.c_str(), kFileEvents);
    const int error = errno;
    if (file_wd_ >= 0 && file_wd_ != wd) {
      ::inotify_rm_watch(inotify_.native_handle(), file_wd_);  // fails when already gone: fine
    }
    file_wd_ = wd;
    if (wd >= 0) {
      file_watch_failure_.clear();
      return;
    }
    // A file missing for a moment is no failure: its folder's watch sees it come back.
    if (error == ENOENT) return;
    // Report a failure once, not again at every change while it lasts.
    std::string reason = "cannot watch " + path_ + " for writes in place: " + why_not(error);
    if (reason == file_watch_failure_) return;
    file_watch_failure_ = reason;
    log_->warn("{}; renames over it and ConfigMap updates are still seen", reason);
    if (on_watch_failure_) on_watch_failure_(reason);
  }

  void read_events() {
    inotify_.async_read_some(
        asio::buffer(buffer_),
        [self = shared_from_this()](const boost::system::error_code& error, std::size_t size) {
          self->on_events(error, size);
        });
  }

  void on_events(const boost::system::error_code& error, std::size_t size) {
    if (stopped_) return;
    if (error) {
      // Not expected on an inotify descriptor; without events there is no watching.
      reading_ = false;
      watch_failed("reading the changes to " + path_ + " failed: " + error.message());
      return;
    }
    bool matters = false;
    for (std::size_t offset = 0; offset + sizeof(inotify_event) <= size;) {
      inotify_event event;
      std::memcpy(&event, buffer_.data() + offset, sizeof(event));
      const char* name_start = buffer_.data() + offset + sizeof(inotify_event);
      // The name is NUL-padded to `len`.
      const std::string_view name =
          event.len > 0 ? std::string_view(name_start, ::strnlen(name_start, event.len))
                        : std::string_view();
      matters = event_matters(event, name) || matters;
      offset += sizeof(inotify_event) + event.len;
    }
    if (matters) settle_later();
    read_events();
  }

  bool event_matters(const inotify_event& event, std::string_view name) {
    // The kernel dropped events: anything may have changed.
    if ((event.mask & IN_Q_OVERFLOW) != 0) return true;
    if (event.wd == file_wd_ && file_wd_ >= 0) {
      if ((event.mask & IN_IGNORED) != 0) file_wd_ = -1;  // the file is gone: look again
      return true;
    }
    if (event.wd == folder_wd_ && folder_wd_ >= 0) {
      if ((event.mask & IN_IGNORED) != 0) {
        // The folder itself was removed; it is watched again at the next comparison, if it
        // is back by then.
        folder_wd_ = -1;
        log_->warn("the folder of {} was removed; watching it again once it is back", path_);
        return false;
      }
      return names_.contains(name);
    }
    return false;  // a watch removed a moment ago, or another file of the folder
  }

  // Each event of a burst pushes the comparison back: it comes `settle` after the last one.
  void settle_later() {
    settle_timer_.expires_after(options_.settle);  // cancels the wait in progress, if any
    settle_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
      if (error || self->stopped_) return;
      self->compare();
    });
  }

  void compare() {
    ++comparisons_;
    // The path may resolve to other files now (a rename, a swap): watch what it is now.
    if (folder_wd_ < 0) {
      watch_folder();  // removed, and perhaps back
    } else {
      names_ = names_that_matter(path_);
    }
    watch_file();
    std::string error;
    std::optional<std::string> checksum = config::checksum_of_file(path_, &error);
    if (!checksum) {
      // Deleted, or not readable for now: nothing to reload. Once it is back, its bytes are
      // compared with the last ones seen, so coming back unchanged is no change either.
      log_->warn("config file {} cannot be read ({}); the running config stays", path_, error);
      return;
    }
    if (*checksum == last_checksum_) {
      log_->debug("config file {} changed on disk, but not its bytes", path_);
      return;
    }
    last_checksum_ = std::move(*checksum);
    log_->info("config file {} changed", path_);
    if (on_change_) on_change_();
  }

  const std::string path_;
  const std::string folder_;
  const OnChange on_change_;
  const OnWatchFailure on_watch_failure_;
  const Options options_;
  asio::posix::stream_descriptor inotify_;
  asio::steady_timer settle_timer_;
  std::shared_ptr<spdlog::logger> log_;
  // Room for many events at once (each is 16 bytes and a name of up to NAME_MAX + 1);
  // inotify never splits one event across reads.
  alignas(inotify_event) std::array<char, 64 * 1024> buffer_{};
  int folder_wd_ = -1;
  int file_wd_ = -1;
  Names names_;  // in the folder
  std::string last_checksum_;
  std::string file_watch_failure_;  // the failure reported last, so it is reported once
  std::size_t comparisons_ = 0;
  bool reading_ = false;  // events are being read (from start() to a read error)
  bool stopped_ = false;
};

ConfigWatcher::ConfigWatcher(boost::asio::io_context& io, std::string path, OnChange on_change,
                             OnWatchFailure on_watch_failure, Options options)
    : impl_(std::make_shared<Impl>(io, std::move(path), std::move(on_change),
                                   std::move(on_watch_failure), options)) {}

ConfigWatcher::ConfigWatcher(boost::asio::io_context& io, std::string path, OnChange on_change,
                             OnWatchFailure on_watch_failure)
    : ConfigWatcher(io, std::move(path), std::move(on_change), std::move(on_watch_failure),
                    Options{}) {}

ConfigWatcher::~ConfigWatcher() { impl_->stop(); }

bool ConfigWatcher::start(std::string running_checksum) {
  return impl_->start(std::move(running_checksum));
}

bool ConfigWatcher::watching() const { return impl_->watching(); }

std::size_t ConfigWatcher::comparisons() const { return impl_->comparisons(); }

void ConfigWatcher::stop() { impl_->stop(); }

}  // namespace triggerd
