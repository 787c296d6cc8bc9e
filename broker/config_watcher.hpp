#pragma once
// Watches the config file with inotify (server.watch_config) and calls back on the event loop
// when its bytes have changed, so that the app reloads without waiting for a SIGHUP.
//
// What it sees:
// - the file written in place (IN_CLOSE_WRITE, on the file itself: also through a symlink to
//   another folder, or a bind mount written from outside);
// - another file renamed over it (editors, `mv new triggerd.yaml`): IN_MOVED_TO/IN_CREATE of
//   its name in its folder;
// - Kubernetes updating a ConfigMap volume: kubelet writes a new `..TIMESTAMP` folder, renames
//   a `..data_tmp` symlink over `..data` and deletes the old folder, while the file itself is
//   the symlink `triggerd.yaml -> ..data/triggerd.yaml` that never changes. So the folder's
//   names that matter are the file's own and the first step of its symlink (`..data`), and
//   the symlink is resolved again at each change.
// What it does not see: a file behind a symlink into another folder that is replaced there by
// a rename (only writes in place to it are seen); SIGHUP covers that.
//
// Events come in bursts (an editor's save is several, kubelet's swap is several): the watcher
// waits until none has come for `settle`, then reads the file and compares its checksum with
// the last one it saw. Only a difference calls back; a swap or a save that left the bytes as
// they were, and changes to other files of the folder, do not.
//
// Everything runs on the io_context's thread: the inotify descriptor is read asynchronously,
// so the loop never blocks on it. Construct, start and stop it on that thread.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace triggerd {

class ConfigWatcher {
 public:
  struct Options {
    // How long after the last event of a burst the file is compared. Half a second covers an
    // editor's save and kubelet's swap with room to spare, and is short for a human waiting.
    std::chrono::milliseconds settle{500};
  };
  // The file's bytes differ from the last ones seen. Must not throw.
  using OnChange = std::function<void()>;
  // A watch could not be set up (the inotify limits reached, the folder gone); `reason` is the
  // warning the watcher has logged. The app counts it: a replica that silently stopped
  // watching would look like one that ignores ConfigMap updates.
  using OnWatchFailure = std::function<void(std::string_view reason)>;

  ConfigWatcher(boost::asio::io_context& io, std::string path, OnChange on_change,
                OnWatchFailure on_watch_failure, Options options);
  ConfigWatcher(boost::asio::io_context& io, std::string path, OnChange on_change,
                OnWatchFailure on_watch_failure);
  ~ConfigWatcher();  // stop()
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

  // Starts watching; `running_checksum` is config::checksum_of the bytes the running config
  // came from (Config::checksum). If the file no longer has them (it changed between loading
  // and now), one callback follows after `settle`, so that such a change is not lost. Returns
  // whether it watches: when inotify cannot be set up, it logs a warning, calls
  // on_watch_failure and returns false, and the app goes on without it (SIGHUP still works).
  bool start(std::string running_checksum);

  // Whether the file is being watched: started and set up, not stopped, and its folder not
  // removed since.
  bool watching() const;

  // How many times a burst of events has settled and the file was compared: for tests, which
  // must tell "not looked at" from "looked at, and found the same".
  std::size_t comparisons() const;

  // Stops watching and cancels a callback that was waiting for a burst to settle: none comes
  // after stop(). Idempotent.
  void stop();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;  // shared with the pending read and timer handlers
};

}  // namespace triggerd
