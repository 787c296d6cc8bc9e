#pragma once
// The one place that knows every source type and every dead-letter type: explicit switches, no
// static registration.
#include <boost/asio/any_io_executor.hpp>

#include <memory>

#include "config/config.hpp"
#include "config/connector_check.hpp"
#include "connectors/source.hpp"
#include "dispatcher/dispatcher.hpp"

namespace triggerd {

struct TriggerTelemetry;

// The source of `trigger`, or nullptr for `http` triggers: those are routes of the one
// webhook server (connectors/http), which the app builds from every http trigger at once.
std::unique_ptr<Source> make_source(boost::asio::any_io_executor executor,
                                    const config::Config& config, const config::Trigger& trigger,
                                    TriggerTelemetry& telemetry);

// The sink of one dead letter of a trigger of `config`; it refers to `config`'s connection, so
// `config` must outlive it.
std::unique_ptr<DeadLetterSink> make_dead_letter_sink(boost::asio::any_io_executor executor,
                                                      const config::DeadLetter& dead_letter,
                                                      const config::Config& config);

// The dead-letter sink of every trigger of `config` that has a dead letter, for the
// dispatcher. The loader has checked that each names a connection of the right type.
DeadLetterSinks make_dead_letter_sinks(boost::asio::any_io_executor executor,
                                       const config::Config& config);

// The check that the config loader is given (config::load_file), so that what a connector
// would refuse at run time (a client-library option, a cron schedule, a time zone) is an error
// at load time. Lives as long as the process.
const config::ConnectorCheck& connector_check();

}  // namespace triggerd
