#pragma once
// What differs between the running configuration and a newly loaded one, as a reload applies
// it (docs/configuration.md, "Changing the config"): triggers added, removed and changed (a
// trigger whose source or dead-letter connection changed counts as changed, one with only
// delivery policy, function or scaling changes as rebound), functions added,
// removed and changed, and the server settings that only a restart applies.
#include <string>
#include <vector>

#include "config/config.hpp"

namespace triggerd {

struct ConfigChanges {
  std::vector<std::string> triggers_added;    // in the order of the new file
  std::vector<std::string> triggers_removed;  // in the order of the running config
  // Same name, and a change its running source can take (function, retries, backoff,
  // max_inflight, dead_letter.retry_for, scaling, filters): applied to the running version,
  // whose source is not restarted.
  std::vector<std::string> triggers_rebound;
  // Same name, and anything else changed: its source, ordering, batch, its dead letter, or a
  // connection it uses. The running version drains before the new one starts.
  std::vector<std::string> triggers_changed;
  std::vector<std::string> functions_added;
  std::vector<std::string> functions_removed;
  std::vector<std::string> functions_changed;
  // server.* keys whose change needs a restart, e.g. "server.listen": the running process
  // keeps what it started with.
  std::vector<std::string> server_needs_restart;
  bool log = false;
  bool admin_auth = false;  // server.admin_auth: applied at once

  bool empty() const;
  // One line per applied change for the log, names only, never values (they may hold
  // secrets), e.g. "trigger orders changed: draining the running version, then starting the
  // new one". The server keys of server_needs_restart are not among them: they are warnings.
  std::vector<std::string> describe() const;
};

ConfigChanges diff_config(const config::Config& running, const config::Config& loaded);

}  // namespace triggerd
