#pragma once
// Telling a request that is not valid HTTP (which deserves a 400 before the connection
// closes) from a peer that went away or a connection that failed (nothing left to answer).
// Header-only, so that a server outside triggerd's libraries (the tests' function stub) can
// draw the line in the same place.
#include <boost/beast/http/error.hpp>
#include <boost/system/error_code.hpp>

namespace triggerd {

// True for errors of Beast's HTTP parser, except the two that mean the peer closed the
// connection: between messages (end_of_stream) or in the middle of one (partial_message).
inline bool is_http_parse_error(const boost::system::error_code& error) {
  namespace http = boost::beast::http;
  return error.category() == http::make_error_code(http::error::end_of_stream).category() &&
         error != http::error::end_of_stream && error != http::error::partial_message;
}

}  // namespace triggerd
