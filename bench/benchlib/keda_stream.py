#!/usr/bin/env python3
"""A KEDA stand-in for activation-latency scenarios (S8): holds one StreamIsActive stream open on
triggerd's external scaler and stamps each message the moment it arrives.

    keda_stream.py --stubs DIR --target 127.0.0.1:PORT (--trigger NAME | --function NAME)

DIR holds externalscaler_pb2.py and externalscaler_pb2_grpc.py, generated from
broker/keda/externalscaler.proto by protoc with grpc_python_plugin (the scenario does it per
run). Needs grpcio and protobuf (Debian: python3-grpcio, python3-protobuf); run it with an
interpreter that has them.

Prints, one line each, flushed at once:
    open                       the call has been started
    msg RESULT MONOTONIC_NS    a message: RESULT 1 (true) or 0 (false), and time.monotonic_ns()
                               as it was read. CLOCK_MONOTONIC is system-wide on Linux, so the
                               harness compares it with its own stamps.
    end CODE DETAILS           the stream ended (CODE: the gRPC status name)
The stamp is taken here, so the pipe to the harness and the harness's own polling add nothing to
what is measured. Exit status 0 when the stream ended with OK or was stopped by SIGTERM.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stubs", required=True)
    parser.add_argument("--target", required=True)
    select = parser.add_mutually_exclusive_group(required=True)
    select.add_argument("--trigger")
    select.add_argument("--function")
    args = parser.parse_args()

    sys.path.insert(0, args.stubs)
    import grpc  # noqa: E402: only once the interpreter is known to have it
    import externalscaler_pb2 as pb  # noqa: E402
    import externalscaler_pb2_grpc as pb_grpc  # noqa: E402

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    metadata = {"trigger": args.trigger} if args.trigger else {"function": args.function}
    channel = grpc.insecure_channel(args.target)
    stub = pb_grpc.ExternalScalerStub(channel)
    stream = stub.StreamIsActive(pb.ScaledObjectRef(name="bench", namespace="bench",
                                                    scalerMetadata=metadata))
    print("open", flush=True)
    try:
        for message in stream:
            now = time.monotonic_ns()
            print(f"msg {int(message.result)} {now}", flush=True)
        print("end OK", flush=True)
        return 0
    except grpc.RpcError as error:
        print(f"end {error.code().name} {error.details()}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
