#pragma once
// The one place that knows every source type: an explicit switch, no static registration.
#include <boost/asio/any_io_executor.hpp>

#include <memory>

#include "config/config.hpp"
#include "config/option_check.hpp"
#include "connectors/source.hpp"

namespace triggerd {

struct TriggerTelemetry;

// The source of `trigger`, or nullptr for `http` triggers: those are routes of the one
// webhook server (connectors/http), which the app builds from every http trigger at once.
std::unique_ptr<Source> make_source(boost::asio::any_io_executor executor,
                                    const config::Config& config, const config::Trigger& trigger,
                                    TriggerTelemetry& telemetry);

// The check of connection options that the config loader is given (config::load_file), so
// that what a client library would refuse at run time is an error at load time. Lives as long
// as the process.
const config::OptionCheck& option_check();

}  // namespace triggerd
