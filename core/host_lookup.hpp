#pragma once
// Host names to addresses without blocking the event loop, and without waiting behind other
// lookups: getaddrinfo blocks for as long as the DNS server takes, and Asio's resolver runs
// every lookup of an io_context one after the other on a single thread, so one slow name
// would hold up every other lookup of the process (a function's connection included). Each
// lookup here gets a thread of its own, and the caller stops waiting at its deadline; a
// lookup that outlives its caller ends on its own and is dropped, and never keeps the
// io_context running.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <string>
#include <vector>

namespace triggerd {

// The addresses of `host` (numeric, each once, in the order the resolver prefers), or empty
// with `error` set: the name does not resolve, `deadline` passed, or `wait` was cancelled
// (the caller's close()). A numeric host is its own answer, without a thread. `wait` is where
// the caller waits: cancel it to give up.
boost::asio::awaitable<std::vector<std::string>> look_up_host(
    boost::asio::steady_timer& wait, std::string host,
    std::chrono::steady_clock::time_point deadline, std::string& error);

}  // namespace triggerd
