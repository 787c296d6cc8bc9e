"""The triggerd benchmark library: processes pinned to CPUs, the function stub, triggerd,
wrk, and the aggregation and printing of figures. Scenarios (bench/scenarios/sN_*.py) use
it and nothing else; see bench/README.md for how to add one."""
