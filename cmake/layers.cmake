# Which folders a folder's code may include from: the layers of triggerd, bottom to top
# (docs/architecture.md draws them). cmake/check_layers.cmake holds every #include "..." of the
# tree to these rules at each build, so an include that runs the wrong way fails the build, in
# the same way as the libraries' target_link_libraries would if the linker could tell.
#
# Each rule: a folder (the longest one that holds a file decides), then what it may include,
# as folders (ending in /) or single headers. A folder always may include itself. Tests
# (*_test.cpp, and everything under tests/) sit outside the layers: they may include anything.
set(TRIGGERD_LAYER_RULES
  "core:"
  "config:core/"
  "dispatcher:config/ core/"
  # A source family: the source interfaces, config and core; never the registry, the dispatcher,
  # the broker or another family (but cron, whose lock is a Redis lock).
  "connectors/http:connectors/source.hpp connectors/event_sink.hpp config/ core/"
  "connectors/kafka:connectors/source.hpp connectors/event_sink.hpp config/ core/"
  "connectors/redis:connectors/source.hpp connectors/event_sink.hpp config/ core/"
  "connectors/cron:connectors/source.hpp connectors/event_sink.hpp connectors/redis/ config/ core/"
  # The interfaces and the registry, which builds sources and dead-letter sinks of every family.
  "connectors:dispatcher/ config/ core/"
  "broker:connectors/ dispatcher/ config/ core/"
)
