// keda_stream_client PORT COUNT TRIGGER: opens COUNT StreamIsActive streams on triggerd's KEDA
// scaler at 127.0.0.1:PORT, each on a connection of its own, selecting `trigger: TRIGGER`; then
// waits to be killed. keda_scaler_test kills it with SIGKILL, as a KEDA operator dies mid-stream:
// the connections close under the streams and nothing cancels them.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "broker/keda/externalscaler.grpc.pb.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: keda_stream_client PORT COUNT TRIGGER\n");
    return 2;
  }
  const std::string target = std::string("127.0.0.1:") + argv[1];
  const int count = std::stoi(argv[2]);
  externalscaler::ScaledObjectRef ref;
  (*ref.mutable_scalermetadata())["trigger"] = argv[3];

  struct Stream {
    std::unique_ptr<externalscaler::ExternalScaler::Stub> stub;
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<externalscaler::IsActiveResponse>> reader;
  };
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto stream = std::make_unique<Stream>();
    stream->stub = externalscaler::ExternalScaler::NewStub(grpc::CreateCustomChannel(
        target, grpc::InsecureChannelCredentials(), arguments));
    stream->reader = stream->stub->StreamIsActive(&stream->context, ref);
    streams.push_back(std::move(stream));
  }
  std::printf("%d streams open\n", count);
  std::fflush(stdout);
  for (;;) pause();
}
