#!/usr/bin/env python3
"""The Grafana dashboard (dashboards/triggerd.json) against a real Prometheus scraping the real
triggerd, so that a panel that would show "No data" fails here instead of on a user's screen.

It starts three function stubs (answering 200, 400 and 500), triggerd with webhook triggers
that deliver, dead-letter, drop and fail to dead-letter, and a cron trigger, then a Prometheus
that scrapes triggerd's admin port every second. While webhooks are posted (good ones, ones with
a wrong token, to a path no trigger owns, with a wrong method) and the config is reloaded once,
Prometheus collects samples. Then:

  - every panel's query, with the dashboard's variables replaced as Grafana would replace them,
    must answer at least one series with a finite value through /api/v1/query, and every
    `{{label}}` of its legend must be a label of the series it answers;
  - the panels that this traffic moves must show it: rates above zero, for the reasons, results
    and statuses the traffic causes, and none of the others;
  - the variables' label_values() queries must list the job, functions and triggers;
  - every metric the dashboard names must be one that triggerd's /metrics serves;
  - every selector must honour the job and trigger variables, and every panel and query must use
    the ${datasource} variable, so that the dashboard works on any Grafana it is imported into.

Usage: check_dashboard.py --dashboard FILE --triggerd BIN --function-stub BIN [--prometheus BIN]

Python 3 standard library only. Every process it starts is stopped on exit, and dies with this
one should it be killed (PR_SET_PDEATHSIG).
"""

import argparse
import ctypes
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import http.client
import urllib.error
import urllib.parse
import urllib.request

# What the test puts in for Grafana's built-in interval variables. Prometheus scrapes every
# second here, so 15 s holds about 15 samples; the run lasts a minute at most, so 1m covers it.
RATE_INTERVAL = "15s"
RANGE = "1m"
SCRAPE_JOB = "triggerd"
LOAD_SECONDS = 8.0

# A query that can only answer on Kubernetes, with the reason it is left out of the data check.
# The key is (panel title, refId); a key that no longer names a query fails the test, so that
# this list cannot go stale.
KUBERNETES_ONLY = {
    ("Function replicas: desired and running", "B"):
        "kube_deployment_status_replicas is served by kube-state-metrics in a cluster; "
        "nothing here runs one",
}
# Metrics the dashboard reads from other exporters, and why they are not in triggerd's /metrics.
FOREIGN_METRICS = {
    "kube_deployment_status_replicas":
        "kube-state-metrics' replica count of the function's Deployment",
}

# The functions and triggers of the config that the test runs (config_text below).
EXPECTED_FUNCTIONS = {"resize-image", "charge-card", "audit-log"}
EXPECTED_TRIGGERS = {"orders", "refunds", "audits", "exports", "nightly"}


def values(series):
    return [float(s["value"][1]) for s in series]


def above_zero(series, label):
    """The values of `label` among the series above zero."""
    return {s["metric"].get(label) for s in series if float(s["value"][1]) > 0}


def positive(series):
    return any(v > 0 for v in values(series))


# What the traffic of this test must show on the panels that it moves, as a user would look
# for it: (panel title, refId) -> (what the user should see, a test of the answered series).
EXPECT = {
    ("Events received", "A"): ("events arrive", positive),
    ("Events delivered", "A"): ("events are delivered", positive),
    ("Success ratio", "A"): ("some events are delivered and some are not",
                             lambda s: all(0 < v < 1 for v in values(s))),
    ("Failed for good", "A"): ("events are dead-lettered and dropped", positive),
    ("Events by outcome", "A"): ("events are received", positive),
    ("Events by outcome", "B"): ("events are delivered", positive),
    ("Events by outcome", "C"): ("events are dead-lettered", positive),
    ("Events by outcome", "D"): ("events are dropped, for two reasons",
                                 lambda s: above_zero(s, "reason") ==
                                 {"retries_exhausted", "dead_letter_failed"}),
    ("Success ratio by trigger", "A"): ("that only orders and the cron trigger deliver",
                                        lambda s: above_zero(s, "trigger") ==
                                        {"orders", "nightly"}),
    ("Dead-lettered by trigger", "A"): ("refunds dead-letters",
                                        lambda s: above_zero(s, "trigger") == {"refunds"}),
    ("Dropped by trigger and reason", "A"): ("audits and exports drop",
                                             lambda s: above_zero(s, "trigger") ==
                                             {"audits", "exports"}),
    ("Delivery attempts by result", "A"): ("2xx, 4xx and 5xx attempts",
                                           lambda s: above_zero(s, "result") ==
                                           {"2xx", "4xx", "5xx"}),
    ("Delivery latency", "A"): ("a p50", positive),
    ("Delivery latency", "B"): ("a p95", positive),
    ("Delivery latency", "C"): ("a p99", positive),
    ("Event duration", "A"): ("a p50", positive),
    ("Event duration", "B"): ("a p95", positive),
    ("Event duration", "C"): ("a p99", positive),
    ("Function replicas: desired and running", "A"): (
        "one line per function", lambda s: {x["metric"].get("function") for x in s} ==
        EXPECTED_FUNCTIONS),
    ("Source connected", "A"): ("every trigger's source up",
                                lambda s: above_zero(s, "trigger") == EXPECTED_TRIGGERS and
                                all(v == 1 for v in values(s))),
    ("Dead-letter write failures", "A"): ("exports' dead letter refusing for good",
                                          lambda s: above_zero(s, "reason") == {"permanent"}),
    ("Webhook rejections", "A"): ("a wrong token and a wrong method",
                                  lambda s: above_zero(s, "status") == {"401", "405"}),
    ("Webhook rejections", "B"): ("a path no trigger owns",
                                  lambda s: above_zero(s, "status") == {"404"}),
    ("Config reloads", "A"): ("one successful reload",
                              lambda s: above_zero(s, "result") == {"success"}),
    ("triggerd replicas", "A"): ("one triggerd", lambda s: values(s) == [1]),
}

failures = []


def fail(message):
    failures.append(message)
    print(f"FAIL {message}", flush=True)


def ok(message):
    print(f"ok   {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# Processes


def _die_with_parent():
    # Runs in the child before exec: should this test be killed (a ctest timeout sends SIGKILL),
    # the kernel stops the child too instead of leaving it on its port.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Processes:
    """The children of this run, each stopped by its own pid on close()."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.children = []

    def start(self, name, argv):
        log = open(os.path.join(self.workdir, f"{name}.log"), "wb")
        child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                 preexec_fn=_die_with_parent)
        self.children.append((name, child, log))
        return child

    def log(self, name):
        with open(os.path.join(self.workdir, f"{name}.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def close(self):
        for _, child, _ in self.children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 10
        for _, child, log in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            log.close()
        self.children = []


def wait_for(what, test, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_port_file(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


# ---------------------------------------------------------------------------------------------
# The dashboard


def dashboard_panels(dashboard):
    """Every panel that queries, rows' collapsed panels included."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def dashboard_targets(dashboard):
    for panel in dashboard_panels(dashboard):
        for target in panel.get("targets", []):
            yield panel, target


SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
LABEL_VALUES = re.compile(r"^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$")


def family_of(name, families):
    """The family of /metrics that serves `name`: itself, or the histogram whose _bucket, _sum
    or _count it is; None when /metrics has no such family."""
    for suffix in ("", "_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: len(name) - len(suffix)] in families:
            return name[: len(name) - len(suffix)]
    return None


def check_structure(dashboard, exposition_labels):
    """What Grafana needs to load the dashboard anywhere, and selectors that honour the
    variables. exposition_labels: family -> set of label names, from /metrics."""
    if not isinstance(dashboard.get("uid"), str) or not dashboard["uid"]:
        fail("the dashboard has no fixed uid: each import or provisioning would make a new copy")
    if dashboard.get("id") is not None:
        fail(f"the dashboard carries a database id ({dashboard['id']}): importing it elsewhere "
             "would clash")
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    ds = variables.get("datasource", {})
    if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        fail("no `datasource` variable of type datasource over Prometheus data sources")
    for name in ("job", "function", "trigger"):
        v = variables.get(name)
        if not v:
            fail(f"no `{name}` variable")
            continue
        if not (v.get("type") == "query" and v.get("multi") and v.get("includeAll")):
            fail(f"the `{name}` variable is not a multi-value query variable with All")
        if (v.get("datasource") or {}).get("uid") != "${datasource}":
            fail(f"the `{name}` variable does not query the ${{datasource}} data source")
    ids = [p.get("id") for p in dashboard.get("panels", [])] + \
          [p.get("id") for p in dashboard_panels(dashboard) if p not in dashboard.get("panels", [])]
    if len(ids) != len(set(ids)) or None in ids:
        fail(f"panel ids are missing or repeated: {ids}")
    count = 0
    for panel in dashboard_panels(dashboard):
        title = panel.get("title", "?")
        if (panel.get("datasource") or {}).get("uid") != "${datasource}":
            fail(f"panel {title!r}: its data source is not ${{datasource}}")
        targets = panel.get("targets", [])
        if not targets:
            fail(f"panel {title!r} has no query")
        refs = [t.get("refId") for t in targets]
        if len(refs) != len(set(refs)):
            fail(f"panel {title!r}: repeated refIds {refs}")
        for target in targets:
            count += 1
            where = f"panel {title!r} query {target.get('refId')}"
            if (target.get("datasource") or {}).get("uid") != "${datasource}":
                fail(f"{where}: its data source is not ${{datasource}}")
            expr = target.get("expr", "")
            # A metric written without braces would escape the checks below.
            bare = re.findall(r"\b(triggerd_[a-z_]+)\b(?!\{)", expr)
            if bare:
                fail(f"{where}: {bare[0]} without a {{...}} selector")
            for name, matchers in SELECTOR.findall(expr):
                family = family_of(name, exposition_labels)
                if name in FOREIGN_METRICS:
                    continue
                if 'job=~"$job"' not in matchers:
                    fail(f"{where}: {name} ignores the job variable (no job=~\"$job\")")
                if "trigger" in exposition_labels.get(family, set()) and \
                        'trigger=~"$trigger"' not in matchers and 'trigger=""' not in matchers:
                    fail(f"{where}: {name} ignores the trigger variable (no trigger=~\"$trigger\")")
    ok(f"structure: uid {dashboard.get('uid')!r}, {count} queries, variables "
       f"{', '.join(variables)}")
    return variables


# ---------------------------------------------------------------------------------------------
# The system under test


def config_text(ports):
    # Four webhook triggers, one per way an event can end, and a cron trigger:
    #   orders  -> resize-image (200): delivered
    #   refunds -> charge-card (400), dead letter that accepts: dead-lettered (needs a token)
    #   audits  -> audit-log (500), one retry, no dead letter: dropped, retries_exhausted
    #   exports -> charge-card (400), dead letter that refuses: dropped, dead_letter_failed
    #   nightly -> resize-image, every second: a cron trigger's series
    good, bad, broken = (f"http://127.0.0.1:{ports[k]}" for k in ("good", "bad", "broken"))
    return f"""server:
  listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
log:
  level: info
functions:
  resize-image:
    url: {good}/resize
    timeout: 5s
  charge-card:
    url: {bad}/charge
    timeout: 5s
  audit-log:
    url: {broken}/audit
    timeout: 5s
triggers:
  orders:
    function: resize-image
    source: {{type: http, path: /hooks/orders}}
    delivery:
      dead_letter: {{type: http, url: "{good}/dead-letter"}}
  refunds:
    function: charge-card
    source:
      type: http
      path: /hooks/refunds
      auth: {{bearer: {{token: dashboard-test-token}}}}
    delivery:
      dead_letter: {{type: http, url: "{good}/dead-letter"}}
  audits:
    function: audit-log
    source: {{type: http, path: /hooks/audits}}
    delivery:
      retries: 1
      backoff: {{delay: 10ms, max: 20ms}}
  exports:
    function: charge-card
    source: {{type: http, path: /hooks/exports}}
    delivery:
      dead_letter: {{type: http, url: "{bad}/dead-letter", retry_for: 0s}}
  nightly:
    function: resize-image
    source: {{type: cron, schedule: "@every 1s", data: {{job: sweep}}}}
"""



def log_port(log, marker):
    m = re.search(re.escape(marker) + r"[0-9.]+:(\d+)", log)
    return int(m.group(1)) if m else 0


class Load(threading.Thread):
    """Posts webhooks until stopped: each trigger's events, plus requests that triggerd must
    refuse. A few dozen requests a second, so as not to starve a build on the other core."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.sent = {}
        self.errors = []

    def request(self, conn, method, path, headers=None, body=b"{}"):
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        key = f"{method} {path} -> {response.status}"
        self.sent[key] = self.sent.get(key, 0) + 1

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        json_headers = {"Content-Type": "application/json"}
        token = {"Authorization": "Bearer dashboard-test-token", **json_headers}
        i = 0
        try:
            while not self.stop.is_set():
                body = json.dumps({"n": i}).encode()
                self.request(conn, "POST", "/hooks/orders", json_headers, body)
                self.request(conn, "POST", "/hooks/refunds", token, body)
                self.request(conn, "POST", "/hooks/audits", json_headers, body)
                self.request(conn, "POST", "/hooks/exports", json_headers, body)
                if i % 4 == 0:
                    self.request(conn, "POST", "/hooks/refunds",
                                 {"Authorization": "Bearer wrong", **json_headers}, body)
                    self.request(conn, "GET", "/hooks/orders", body=None)
                    self.request(conn, "POST", "/hooks/nobody-owns-this", json_headers, body)
                i += 1
                self.stop.wait(0.04)
        except (OSError, http.client.HTTPException) as e:
            self.errors.append(repr(e))
        finally:
            conn.close()


# ---------------------------------------------------------------------------------------------
# Prometheus


class Prometheus:
    def __init__(self, base):
        self.base = base

    def api(self, path, params):
        url = f"{self.base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            _, text = http_get(url, timeout=10)
        except urllib.error.HTTPError as e:
            # A bad query answers 400 with the parser's message: that is what to show.
            text = e.read().decode(errors="replace")
        answer = json.loads(text)
        if answer.get("status") != "success":
            raise ValueError(f"{answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]

    def query(self, expr, at=None):
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self.api("/api/v1/query", params)


def start_prometheus(procs, binary, admin_port, workdir):
    """Prometheus on a free loopback port, scraping triggerd every second. The port is chosen
    before Prometheus binds it, so a port taken meanwhile is retried with another."""
    config = os.path.join(workdir, "prometheus.yml")
    with open(config, "w") as f:
        f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: {SCRAPE_JOB}
    static_configs:
      - targets: ["127.0.0.1:{admin_port}"]
""")
    for attempt in range(3):
        port = free_port()
        storage = os.path.join(workdir, f"tsdb-{attempt}")
        child = procs.start(f"prometheus-{attempt}", [
            binary, f"--config.file={config}", f"--storage.tsdb.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h",
            "--log.level=warn"])
        base = f"http://127.0.0.1:{port}"

        def ready():
            if child.poll() is not None:
                return "exited"
            try:
                return "ready" if http_get(f"{base}/-/ready", timeout=1)[0] == 200 else ""
            except OSError:
                return ""

        if wait_for("Prometheus to be ready", ready, 30) == "ready":
            return Prometheus(base)
        print(procs.log(f"prometheus-{attempt}"), file=sys.stderr)
    raise RuntimeError("Prometheus did not start (log above)")


# ---------------------------------------------------------------------------------------------
# The checks against data


def substitute(expr, values):
    """The query as Grafana would send it: variables replaced, ${datasource} aside (it picks the
    data source, not a part of the query)."""
    def one(m):
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(name)
        return values[name]
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", one, expr)


def all_value(options):
    """Grafana's value for "All" in a Prometheus regex matcher: the options, regex-escaped and
    joined, so that a trigger="" series (a request no trigger owns) is not part of it."""
    return "(" + "|".join(re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", o)
                          for o in sorted(options)) + ")"


def finite(sample):
    try:
        return math.isfinite(float(sample["value"][1]))
    except (KeyError, IndexError, TypeError, ValueError):
        return False


def check_variables(prom, variables, now):
    """Each label_values() variable lists what the config defines; returns name -> options."""
    expected = {"job": {SCRAPE_JOB}, "function": EXPECTED_FUNCTIONS, "trigger": EXPECTED_TRIGGERS}
    options = {}
    # In order: function's query uses $job, trigger's uses $job and $function.
    for name in ("job", "function", "trigger"):
        query = variables[name].get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        m = LABEL_VALUES.match(query or "")
        if not m:
            fail(f"variable {name}: {query!r} is not label_values(SELECTOR, LABEL)")
            options[name] = expected[name]
            continue
        selector = substitute(m.group(1), {k: all_value(v) for k, v in options.items()})
        try:
            got = set(prom.api(f"/api/v1/label/{m.group(2)}/values",
                               {"match[]": selector, "start": f"{now - 300:.3f}",
                                "end": f"{now:.3f}"}))
        except (ValueError, OSError) as e:
            fail(f"variable {name}: {query!r} failed: {e}")
            got = set()
        if got != expected[name]:
            fail(f"variable {name}: {query!r} lists {sorted(got)}, "
                 f"expected {sorted(expected[name])}")
        else:
            ok(f"variable {name} lists {', '.join(sorted(got))}")
        options[name] = got or expected[name]
    return options


def check_queries(prom, dashboard, options, now):
    values = {name: all_value(v) for name, v in options.items()}
    values.update({"__rate_interval": RATE_INTERVAL, "__interval": "1s", "__range": RANGE})
    seen_excluded = set()
    for panel, target in dashboard_targets(dashboard):
        key = (panel.get("title"), target.get("refId"))
        where = f"panel {key[0]!r} query {key[1]}"
        if key in KUBERNETES_ONLY:
            seen_excluded.add(key)
            print(f"skip {where}: {KUBERNETES_ONLY[key]}", flush=True)
            continue
        try:
            expr = substitute(target.get("expr", ""), values)
        except KeyError as e:
            fail(f"{where}: unknown variable ${e.args[0]} (a typo, or one the test must supply)")
            continue
        try:
            data = prom.query(expr, at=now)
        except (ValueError, OSError) as e:
            fail(f"{where}: Prometheus refused the query: {e}\n    {expr}")
            continue
        result = data.get("result", [])
        if data.get("resultType") != "vector" or not result:
            fail(f"{where}: no data (the panel would say \"No data\")\n    {expr}")
            continue
        good = [s for s in result if finite(s)]
        if not good:
            fail(f"{where}: only NaN or infinite values {[s['value'][1] for s in result]}\n"
                 f"    {expr}")
            continue
        legend_labels = re.findall(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}",
                                   target.get("legendFormat", ""))
        missing = sorted({label for label in legend_labels for s in good
                          if label not in s["metric"]})
        if missing:
            fail(f"{where}: the legend names {missing}, which its series do not carry: "
                 f"{[s['metric'] for s in good]}")
            continue
        shown = ", ".join(f"{legend(target, s)}={float(s['value'][1]):.4g}" for s in good)
        if key in EXPECT and not EXPECT[key][1](good):
            fail(f"{where}: should show {EXPECT[key][0]}, but answers {shown}\n    {expr}")
            continue
        ok(f"{where}: {shown}")
    for key in set(KUBERNETES_ONLY) - seen_excluded:
        fail(f"KUBERNETES_ONLY names {key}, which the dashboard no longer has")
    targets = {(p.get("title"), t.get("refId")) for p, t in dashboard_targets(dashboard)}
    for key in set(EXPECT) - targets:
        fail(f"EXPECT names {key}, which the dashboard no longer has")


def legend(target, series):
    text = target.get("legendFormat") or json.dumps(series["metric"])
    return re.sub(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}",
                  lambda m: series["metric"].get(m.group(1), ""), text)


def check_metric_names(dashboard, families):
    used = set()
    for panel, target in dashboard_targets(dashboard):
        used.update(name for name, _ in SELECTOR.findall(target.get("expr", "")))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        if variable.get("type") == "query":
            used.update(re.findall(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", query or ""))
    for name in sorted(used):
        if name in FOREIGN_METRICS:
            print(f"skip metric {name}: {FOREIGN_METRICS[name]}", flush=True)
        elif family_of(name, families) is None:
            fail(f"the dashboard reads {name}, which triggerd's /metrics does not serve")
    unused = set(FOREIGN_METRICS) - used
    if unused:
        fail(f"FOREIGN_METRICS names {sorted(unused)}, which the dashboard no longer reads")
    ok(f"{len(used)} metric names, each served by triggerd's /metrics "
       f"(or listed as another exporter's)")


def exposition_families(text):
    """family -> label names of its series, for every # TYPE line of /metrics."""
    families = {name: set() for name in re.findall(r"^# TYPE (\S+) ", text, re.M)}
    for name, labels in re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", text, re.M):
        family = family_of(name, families)
        if family:
            families[family].update(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)=", labels))
    return families


# ---------------------------------------------------------------------------------------------


def run(args, workdir):
    with open(args.dashboard) as f:
        dashboard = json.load(f)
    procs = Processes(workdir)
    try:
        ports = {}
        for name, status in (("good", 200), ("bad", 400), ("broken", 500)):
            port_file = os.path.join(workdir, f"{name}.port")
            argv = [args.function_stub, "--listen", "127.0.0.1:0", "--port-file", port_file,
                    "--status", str(status)]
            if name == "good":
                # A few milliseconds per event, so that the latency panels show a real spread.
                argv += ["--delay-ms", "3", "--threads", "4"]
            procs.start(f"stub-{name}", argv)
            ports[name] = wait_for(f"the {name} function stub",
                                   lambda: read_port_file(port_file), 10)

        config = os.path.join(workdir, "triggerd.yaml")
        with open(config, "w") as f:
            f.write(config_text(ports))
        triggerd = procs.start("triggerd", [args.triggerd, "run", "-c", config])
        admin = wait_for("triggerd's admin port", lambda: triggerd.poll() is None and
                         log_port(procs.log("triggerd"), "admin API on "), 20)
        webhook = log_port(procs.log("triggerd"), "webhook ingress listening on ")
        wait_for("triggerd to be ready",
                 lambda: http_get(f"http://127.0.0.1:{admin}/readyz")[0] == 200, 20)

        prom = start_prometheus(procs, args.prometheus, admin, workdir)
        # The first scrape before any traffic, so that every counter starts from a sample
        # Prometheus has and a rate over the traffic has two ends.
        wait_for("Prometheus's first scrape of triggerd", lambda: any(
            s["value"][1] == "1" for s in prom.query(f'up{{job="{SCRAPE_JOB}"}}')["result"]), 20)
        ok(f"triggerd (admin :{admin}, webhooks :{webhook}) scraped by Prometheus at {prom.base}")

        load = Load(webhook)
        started = time.monotonic()
        load.start()
        time.sleep(LOAD_SECONDS / 2)
        triggerd.send_signal(signal.SIGHUP)  # one config reload, counted as a success
        time.sleep(LOAD_SECONDS / 2)
        load.stop.set()
        load.join(10)
        if load.errors:
            raise RuntimeError(f"posting webhooks failed: {load.errors}")
        print(f"load: {time.monotonic() - started:.1f} s, " +
              ", ".join(f"{k} x{v}" for k, v in sorted(load.sent.items())), flush=True)
        # Events still being retried finish within a second; two more scrapes after that put
        # the last of them in Prometheus.
        ended = time.time()
        wait_for("two scrapes after the traffic", lambda: any(
            float(s["value"][1]) > ended + 2 for s in
            prom.query(f'timestamp(triggerd_build_info{{job="{SCRAPE_JOB}"}})')["result"]), 15)

        _, exposition = http_get(f"http://127.0.0.1:{admin}/metrics")
        families = exposition_families(exposition)
        now = time.time()
        variables = check_structure(dashboard, families)
        options = check_variables(prom, variables, now)
        check_queries(prom, dashboard, options, now)
        check_metric_names(dashboard, families)
        if triggerd.poll() is not None:
            fail(f"triggerd exited ({triggerd.returncode}) during the test")
    finally:
        procs.close()
        if failures or sys.exc_info()[0] is not None:
            for name in ("triggerd", "stub-good", "stub-bad", "stub-broken"):
                try:
                    print(f"--- {name} log\n{procs.log(name)[-4000:]}", flush=True)
                except OSError:
                    pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dashboard", required=True)
    parser.add_argument("--triggerd", required=True)
    parser.add_argument("--function-stub", required=True)
    parser.add_argument("--prometheus", default="prometheus")
    args = parser.parse_args()
    # The children run in the temporary folder: paths given relative to here must still work.
    args.triggerd, args.function_stub = map(os.path.abspath, (args.triggerd, args.function_stub))
    if not shutil.which(args.prometheus):
        print(f"FAIL no {args.prometheus} on PATH (Debian's prometheus package; scripts/setup "
              "installs it)", file=sys.stderr)
        return 1
    # A SIGTERM (ctest's timeout, a ^C) ends the run through the finally clauses, which stop
    # every child.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="triggerd-dashboard-") as workdir:
        try:
            run(args, workdir)
        except Exception as e:  # noqa: BLE001 - any error is a failure of the test, said once
            fail(f"{type(e).__name__}: {e}")
    print(f"dashboard checks: {len(failures)} failure(s) in {time.monotonic() - started:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
