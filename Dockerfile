# The triggerd container image (docs/kubernetes.md, "The container image"):
#
#   docker build -t REGISTRY/triggerd:VERSION --build-arg REVISION=$(git rev-parse HEAD) .
#
# Two stages on Debian 12. The build stage compiles a Release binary without the tests and lays
# out the files the image adds (packaging/stage-rootfs); the runtime stage is bookworm-slim with
# only the shared libraries that binary loads (packaging/runtime-packages.txt), the files, and
# a non-root user. tests/install checks the same file list and package list without docker.

# The package names in packaging/ are Debian 12's: the base is not a build argument.
FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
COPY packaging/build-packages.txt /tmp/build-packages.txt
RUN apt-get update \
 && sed -e 's/#.*//' /tmp/build-packages.txt | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
 && cmake --build /build \
 && packaging/stage-rootfs /build /rootfs

FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
COPY packaging/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && sed -e 's/#.*//' /tmp/runtime-packages.txt | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt
# A numeric user, so that Kubernetes' runAsNonRoot can tell it is not root; the same uid and
# gid as the Helm chart's securityContext (helm/triggerd/values.yaml). No home: triggerd
# writes no files.
RUN groupadd --system --gid 65532 triggerd \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin triggerd
COPY --from=build /rootfs/ /

# The example config listens on loopback unless these say otherwise; in a container that would
# be out of reach. The chart's config sets its own addresses and does not read them.
ENV TRIGGERD_LISTEN=0.0.0.0:8080 \
    TRIGGERD_ADMIN_LISTEN=0.0.0.0:9090
USER 65532:65532
# webhooks, the admin API (/metrics, /livez, /readyz), the KEDA external scaler (when enabled)
EXPOSE 8080 9090 9091
# The chart passes only args, so the entrypoint must be the binary itself.
ENTRYPOINT ["/usr/bin/triggerd"]
CMD ["run", "-c", "/etc/triggerd/triggerd.yaml"]

# VERSION: the project's version (CMakeLists.txt); tests/install fails when they differ.
ARG VERSION=0.1.0
ARG REVISION=""
LABEL org.opencontainers.image.title="triggerd" \
      org.opencontainers.image.description="Event trigger broker for serverless functions: Kafka, Redis, webhook and cron sources delivered to HTTP functions" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
