#!/usr/bin/env python3
"""The docs, checked against the real binary: the examples of README.md, docs/filters.md and
docs/delivery.md run as a reader would run them, and docs/metrics.md names every series and
label that /metrics serves.

Every ```yaml and ```console block of those files must follow a marker comment that says how
it is checked, so an example cannot be added without a check:

  <!-- checked: the block below is FILE -->   the block is FILE, byte for byte (and FILE is
                                              then validated by the console block that names it)
  <!-- checked: these commands print this -->  each `$ ` line is run from the source folder
                                              and must print exactly the lines under it; the
                                              exit code is 2 when they show an error, else 0
  <!-- checked: run against the demo -->      each line runs, with curl made strict, against
                                              triggerd on examples/triggerd.yaml and the
                                              example function, as scripts/demo starts them
  <!-- checked: triggerd validate accepts this file -->
                                              the block is a whole config file, and `triggerd
                                              validate` finds no error in it
  <!-- checked: valid as a trigger's filters -->
                                              the block is a trigger's `filters:` key, and
                                              `triggerd validate` finds no error in a trigger
                                              that has it

While the demo runs, every metric family in its /metrics, and every label name, must appear
in docs/metrics.md (in backquotes, as the tables write them).

Usage: check_docs.py --source-dir DIR --triggerd PATH --function-stub PATH
"""

import argparse
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

MARKER = re.compile(r"<!-- checked: (.*?) -->")
FENCE = re.compile(r"^```(\w*)\s*$")
# What the README's commands call the binary that scripts/demo builds.
README_BINARY = "build/broker/triggerd"
# The demo's default addresses, as the README shows them.
DEMO_WEBHOOK, DEMO_ADMIN, DEMO_FUNCTION = "127.0.0.1:8080", "127.0.0.1:9090", "127.0.0.1:9000"

# The files whose examples are checked, relative to the source folder.
DOCUMENTS = ["README.md", "docs/filters.md", "docs/delivery.md"]

failures = []
document = "README.md"  # the one being checked, for the messages


def fail(line, message):
    failures.append(f"{document}:{line}: {message}")


def blocks(text):
    """Yields (line of the fence, language, body, marker or None) for every fenced block."""
    lines = text.split("\n")
    marker = None
    i = 0
    while i < len(lines):
        m = MARKER.search(lines[i])
        if m:
            marker = m.group(1)
            i += 1
            continue
        fence = FENCE.match(lines[i])
        if fence:
            start = i
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            yield start + 1, fence.group(1), "\n".join(body) + "\n", marker
            marker = None
        elif lines[i].strip():
            marker = None  # a marker belongs to the block right below it
        i += 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_file(line, body, path, source_dir):
    try:
        with open(os.path.join(source_dir, path)) as f:
            content = f.read()
    except OSError as e:
        fail(line, f"the block should be {path}, which cannot be read: {e}")
        return
    if body != content:
        fail(line, f"the block differs from {path}: copy the file into the README again")


def check_console(line, body, source_dir, triggerd):
    commands = []
    for text in body.rstrip("\n").split("\n"):
        if text.startswith("$ "):
            commands.append([text[2:], []])
        elif commands:
            commands[-1][1].append(text)
        else:
            fail(line, f"output before any command: {text!r}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIGGERD_")}
    for command, expected in commands:
        run = command.replace(README_BINARY, shlex.quote(triggerd))
        result = subprocess.run(["bash", "-c", run + " 2>&1"], cwd=source_dir, env=env,
                                capture_output=True, text=True, timeout=60)
        shown = result.stdout.rstrip("\n").split("\n")
        if shown != expected:
            fail(line, f"`{command}` printed:\n  " + "\n  ".join(shown) +
                 "\nthe README shows:\n  " + "\n  ".join(expected))
        want_code = 2 if any(": error: " in e for e in expected) else 0
        if result.returncode != want_code:
            fail(line, f"`{command}` exited {result.returncode}, expected {want_code}")


# A webhook trigger around a `filters:` block, which is indented under it.
FILTERS_HOST = """functions:
  fn: {url: "http://127.0.0.1:9000/fn"}
triggers:
  filtered:
    function: fn
    source: {type: http, path: /filtered}
"""


def check_validates(line, config, triggerd):
    """`triggerd validate` of `config` (a whole file's text) reports no error."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(config)
        f.flush()
        result = subprocess.run([triggerd, "validate", "-c", f.name], capture_output=True,
                                text=True, timeout=60)
    errors = [e for e in result.stderr.split("\n") if ": error: " in e]
    if result.returncode != 0 or errors:
        fail(line, "`triggerd validate` refuses the example:\n  " +
             "\n  ".join(errors or [result.stderr.strip()]))


def check_filters(line, body, triggerd):
    if not body.startswith("filters:\n"):
        fail(line, "a filters example must be the `filters:` key of a trigger")
        return
    indented = "".join("    " + text if text.strip() else text
                       for text in body.splitlines(keepends=True))
    check_validates(line, FILTERS_HOST + indented, triggerd)


def wait_ready(url, deadline):
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def check_metrics_doc(admin, source_dir):
    with urllib.request.urlopen(f"http://{admin}/metrics", timeout=5) as r:
        exposition = r.read().decode()
    with open(os.path.join(source_dir, "docs/metrics.md")) as f:
        doc = f.read()
    families = re.findall(r"^# TYPE (\S+) ", exposition, re.M)
    if not families:
        failures.append("/metrics of the demo has no families")
    for family in families:
        if f"`{family}" not in doc:
            failures.append(f"docs/metrics.md does not describe {family}, which /metrics serves")
    labels = set(re.findall(r"[{,]([a-z_]+)=", exposition)) - {"le", "quantile"}
    for label in sorted(labels):
        if not re.search(rf"[{{,]{label}[,}}]|`{label}`", doc):
            failures.append(f"docs/metrics.md does not name the label {label}, which /metrics "
                            "serves")


def check_demo(line, body, source_dir, triggerd, stub):
    webhook, admin, function = (f"127.0.0.1:{free_port()}" for _ in range(3))
    env = dict(os.environ, TRIGGERD_LISTEN=webhook, TRIGGERD_ADMIN_LISTEN=admin,
               EXAMPLE_FUNCTION=function)
    with tempfile.TemporaryFile("w+") as stub_out, tempfile.TemporaryFile("w+") as log:
        # The same two processes, arguments and config as scripts/demo.
        stub_proc = subprocess.Popen([stub, "--listen", function, "--print"], stdout=stub_out,
                                     stderr=subprocess.STDOUT)
        broker = subprocess.Popen([triggerd, "run", "-c", "examples/triggerd.yaml"],
                                  cwd=source_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            if not wait_ready(f"http://{admin}/readyz", time.monotonic() + 20):
                log.seek(0)
                fail(line, "the demo did not become ready:\n" + log.read())
                return
            check_metrics_doc(admin, source_dir)
            for command in body.strip().split("\n"):
                run = (command.replace(DEMO_WEBHOOK, webhook).replace(DEMO_ADMIN, admin)
                       .replace(DEMO_FUNCTION, function))
                # -f: an HTTP error fails the command; -sS: quiet, but errors are shown.
                run = re.sub(r"^curl ", "curl -fsS ", run)
                result = subprocess.run(["bash", "-c", run], capture_output=True, text=True,
                                        timeout=30)
                if result.returncode != 0:
                    fail(line, f"`{command}` failed against the demo: {result.stderr.strip()}")
                    continue
                posted = re.search(r"-d '([^']*)'", command)
                if posted and not re.fullmatch(r'\{"id":"[^"]+"\}\s*', result.stdout):
                    fail(line, f"`{command}` answered {result.stdout!r}, not an event id")
                elif posted:
                    event_id = re.search(r'"id":"([^"]+)"', result.stdout).group(1)
                    deadline = time.monotonic() + 10
                    seen = False
                    while not seen and time.monotonic() < deadline:
                        stub_out.seek(0)
                        printed = stub_out.read()
                        seen = any(event_id in p and posted.group(1) in p
                                   for p in printed.split("\n"))
                        time.sleep(0.1)
                    if not seen:
                        fail(line, f"the example function never printed event {event_id} "
                                   f"with body {posted.group(1)}")
        finally:
            broker.terminate()
            stub_proc.terminate()
            if broker.wait(timeout=20) != 0:
                log.seek(0)
                fail(line, f"the demo's triggerd exited {broker.returncode} on SIGTERM:\n"
                     + log.read())
            stub_proc.wait(timeout=10)


def check_document(path, args):
    """Checks every marked block of the document at `path`; returns how many there were."""
    global document
    document = path
    with open(os.path.join(args.source_dir, path)) as f:
        text = f.read()
    checked = 0
    for line, language, body, marker in blocks(text):
        if marker is None:
            if language in ("yaml", "console"):
                fail(line, f"a {language} example with no `<!-- checked: ... -->` marker above it")
            continue
        checked += 1
        if marker.startswith("the block below is "):
            check_file(line, body, marker.removeprefix("the block below is "), args.source_dir)
        elif marker == "these commands print this":
            check_console(line, body, args.source_dir, args.triggerd)
        elif marker == "run against the demo":
            check_demo(line, body, args.source_dir, args.triggerd, args.function_stub)
        elif marker == "triggerd validate accepts this file":
            check_validates(line, body, args.triggerd)
        elif marker == "valid as a trigger's filters":
            check_filters(line, body, args.triggerd)
        else:
            fail(line, f"unknown marker {marker!r}")
    if checked == 0:
        fail(1, "no checked example found: the markers were lost")
    return checked


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--triggerd", required=True)
    parser.add_argument("--function-stub", required=True)
    args = parser.parse_args()
    counts = [f"{check_document(path, args)} in {path}" for path in DOCUMENTS]
    for message in failures:
        print(message, file=sys.stderr)
    print(f"examples checked: {', '.join(counts)}; {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
