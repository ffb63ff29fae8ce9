"""Services the e2e tests start themselves: a node_exporter and a Prometheus server on free
loopback ports."""

import contextlib
import os
import socket
import subprocess
import time
import urllib.request

NODE_EXPORTER = os.environ.get("H5PRUNE_NODE_EXPORTER", "/usr/bin/prometheus-node-exporter")


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via $http_proxy


def scrape(url, timeout=5):
    req = urllib.request.Request(url, headers={"Accept": "text/plain"})
    with _DIRECT.open(req, timeout=timeout) as resp:
        return resp.read().decode("utf-8")


@contextlib.contextmanager
def node_exporter(textfile_dir, log_path, tries=3):
    """Runs node_exporter with only the textfile collector on 127.0.0.1:<free port>; yields the
    /metrics URL and stops the process on exit, pass or fail. Retries on another port when the
    chosen one was taken in between."""
    if not os.access(NODE_EXPORTER, os.X_OK):
        raise RuntimeError("node_exporter not found at %s (install prometheus-node-exporter)" % NODE_EXPORTER)
    last_log = ""
    for _ in range(tries):
        port = free_port()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % port,
                 "--collector.disable-defaults", "--collector.textfile",
                 "--collector.textfile.directory=%s" % textfile_dir,
                 "--web.disable-exporter-metrics"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        url = "http://127.0.0.1:%d/metrics" % port
        try:
            deadline = time.monotonic() + 15
            ready = False
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    scrape(url, timeout=1)
                    ready = True
                    break
                except OSError:
                    time.sleep(0.05)
            if ready:
                yield url
                return
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        with open(log_path, "r", errors="replace") as fh:
            last_log = fh.read()[-2000:]
    raise RuntimeError("node_exporter did not start after %d tries; log: %s" % (tries, last_log))


PROMETHEUS = os.environ.get("H5PRUNE_PROMETHEUS", "/usr/bin/prometheus")


def prometheus_query(base, expr, at=None):
    """Instant query against a Prometheus server: the parsed `data` of the answer (raises on an
    HTTP or query error)."""
    import json
    import urllib.parse
    params = {"query": expr}
    if at is not None:
        params["time"] = "%.3f" % at
    with _DIRECT.open(base + "/api/v1/query?" + urllib.parse.urlencode(params), timeout=10) as resp:
        answer = json.loads(resp.read().decode("utf-8"))
    if answer.get("status") != "success":
        raise RuntimeError("query %r failed: %s" % (expr, answer))
    return answer["data"]


@contextlib.contextmanager
def prometheus(targets, workdir, scrape_interval="1s"):
    """A Prometheus server on 127.0.0.1:<free port> scraping `targets` (host:port) as job "node";
    yields its base URL once it answers, and stops it on exit."""
    if not os.access(PROMETHEUS, os.X_OK):
        raise RuntimeError("prometheus not found at %s (install the Debian package prometheus)" % PROMETHEUS)
    port = free_port()
    conf = os.path.join(workdir, "prometheus.yml")
    with open(conf, "w") as fh:
        fh.write("global:\n  scrape_interval: %s\n  evaluation_interval: %s\n"
                 "scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: [%s]\n"
                 % (scrape_interval, scrape_interval, ", ".join('"%s"' % t for t in targets)))
    log_path = os.path.join(workdir, "prometheus.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([PROMETHEUS, "--config.file=" + conf,
                                 "--storage.tsdb.path=" + os.path.join(workdir, "tsdb"),
                                 "--web.listen-address=127.0.0.1:%d" % port],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % port
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                prometheus_query(base, "up")
                break
            except (OSError, RuntimeError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    with open(log_path, "r", errors="replace") as fh:
                        raise RuntimeError("prometheus did not start: %s" % fh.read()[-2000:])
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
