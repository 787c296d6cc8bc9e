# Finds every external dependency; a missing one stops configure with the Debian package
# that provides it, so `scripts/setup` (or one apt-get line) is the fix.

function(triggerd_require found what package)
  if(NOT ${found})
    message(FATAL_ERROR "triggerd: ${what} not found. Install it with: apt-get install ${package} "
                        "(or run scripts/setup, which installs every dependency)")
  endif()
endfunction()

find_package(Threads REQUIRED)

find_package(Boost 1.81 QUIET COMPONENTS json url)
triggerd_require(Boost_FOUND "Boost 1.81 (Asio, Beast, JSON, URL)"
                 "libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev")

find_package(spdlog QUIET)
triggerd_require(spdlog_FOUND "spdlog" "libspdlog-dev")

find_package(prometheus-cpp QUIET CONFIG)
triggerd_require(prometheus-cpp_FOUND "prometheus-cpp" "prometheus-cpp-dev")

find_package(OpenSSL QUIET)
triggerd_require(OPENSSL_FOUND "OpenSSL (HTTPS to functions, HMAC-SHA256 for webhook auth, SHA-256 of the config file)" "libssl-dev")

find_package(PkgConfig QUIET)
triggerd_require(PKG_CONFIG_FOUND "pkg-config" "pkg-config")
pkg_check_modules(RDKAFKA QUIET IMPORTED_TARGET rdkafka)
triggerd_require(RDKAFKA_FOUND "librdkafka" "librdkafka-dev")
pkg_check_modules(HIREDIS QUIET IMPORTED_TARGET hiredis)
triggerd_require(HIREDIS_FOUND "hiredis" "libhiredis-dev")

# The KEDA external scaler: protoc and gRPC's C++ plugin generate its service (FindProtobuf first:
# gRPC's package config looks for protobuf itself).
find_package(Protobuf QUIET)
triggerd_require(Protobuf_FOUND "protobuf (protoc and libprotobuf)"
                 "libprotobuf-dev protobuf-compiler")
find_package(gRPC CONFIG QUIET)
triggerd_require(gRPC_FOUND "gRPC C++ (and grpc_cpp_plugin)" "libgrpc++-dev protobuf-compiler-grpc")

if(BUILD_TESTING)
  find_package(GTest QUIET)
  triggerd_require(GTest_FOUND "GoogleTest (or configure with -DBUILD_TESTING=OFF)"
                   "googletest libgtest-dev libgmock-dev")
endif()
