#include "core/http_parse_error.hpp"

#include <gtest/gtest.h>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>

namespace triggerd {
namespace {

namespace http = boost::beast::http;

struct ErrorCase {
  const char* name;
  boost::system::error_code error;
  bool parse_error;
};

class HttpParseError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(HttpParseError, TellsABadRequestFromAPeerThatWentAway) {
  EXPECT_EQ(is_http_parse_error(GetParam().error), GetParam().parse_error)
      << GetParam().error.message();
}

INSTANTIATE_TEST_SUITE_P(
    Errors, HttpParseError,
    ::testing::Values(ErrorCase{"BadTarget", http::error::bad_target, true},
                      ErrorCase{"BadContentLength", http::error::bad_content_length, true},
                      ErrorCase{"BodyLimit", http::error::body_limit, true},
                      ErrorCase{"HeaderLimit", http::error::header_limit, true},
                      ErrorCase{"EndOfStream", http::error::end_of_stream, false},
                      ErrorCase{"PartialMessage", http::error::partial_message, false},
                      ErrorCase{"Timeout", boost::beast::error::timeout, false},
                      ErrorCase{"Eof", boost::asio::error::eof, false},
                      ErrorCase{"Reset", boost::asio::error::connection_reset, false},
                      ErrorCase{"Aborted", boost::asio::error::operation_aborted, false},
                      ErrorCase{"None", {}, false}),
    [](const auto& test) { return std::string(test.param.name); });

}  // namespace
}  // namespace triggerd
