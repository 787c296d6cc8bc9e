#pragma once
// Keeps a connection's stream in its server's list for as long as the connection lives, so
// that the server's stop() can close every open connection and count them against a limit.
// Shared by the admin server and the webhook ingress.
#include <list>

namespace triggerd {

template <typename Stream>
class TrackedConnection {
 public:
  TrackedConnection(std::list<Stream*>& list, Stream& stream)
      : list_(list), position_(list.insert(list.end(), &stream)) {}
  ~TrackedConnection() { list_.erase(position_); }
  TrackedConnection(const TrackedConnection&) = delete;
  TrackedConnection& operator=(const TrackedConnection&) = delete;

 private:
  std::list<Stream*>& list_;
  typename std::list<Stream*>::iterator position_;
};

}  // namespace triggerd
