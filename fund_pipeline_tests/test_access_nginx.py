"""The UI behind a door: Debian's nginx with the configuration docs/operations.md gives (ports and paths
substituted), TLS with a certificate made by openssl, basic auth, in front of `fund-pipeline serve` (the
staff's full UI) and `dagster-webserver --read-only` (the auditors'). Real processes, real HTTP.

Needs nginx and openssl (installed by .ci/run); without them it is skipped locally and fails in CI."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fund_pipeline.settings import PROJECT_ROOT

SERVE_PORT, READ_ONLY_PORT, STAFF_DOOR, AUDITORS_DOOR = 3210, 3211, 3243, 3244
STAFF, AUDITOR = ("wang_wu", "Staff-pass-1"), ("zhang_san", "Auditor-pass-2")
LOCATION = "fund_pipeline.definitions"


def documented_nginx_site() -> str:
    """The ```nginx block of docs/operations.md, verbatim."""
    text = (PROJECT_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```nginx\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "docs/operations.md gives one nginx configuration"
    return blocks[0]


def _require(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None and not Path(f"/usr/sbin/{p}").exists()]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {missing} not installed: .ci/run installs Debian's nginx and openssl")
        pytest.skip(f"{missing} not installed (apt-get install nginx openssl)")


def _nginx() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def _htpasswd_line(user: str, password: str) -> str:
    hashed = subprocess.run(["openssl", "passwd", "-apr1", "-stdin"], input=password, capture_output=True,
                            text=True, check=True).stdout.strip()
    return f"{user}:{hashed}\n"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _wait_for(url: str, process: subprocess.Popen, log: Path, seconds: float = 600) -> None:
    """Until the server answers (a server starting on a busy machine takes a while); its log on failure."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(2)
    pytest.fail(f"{url} did not answer:\n{log.read_text()[-3000:]}")


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    # Its own process group, so the webserver, daemon and code servers it starts all stop with it.
    return subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def doors(tmp_path_factory):
    _require("nginx", "openssl")
    for port in (SERVE_PORT, READ_ONLY_PORT, STAFF_DOOR, AUDITORS_DOOR):
        assert _port_free(port), f"port {port} is taken"
    work = tmp_path_factory.mktemp("doors")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(work / "key.pem"),
                    "-out", str(work / "cert.pem")], check=True, capture_output=True)
    (work / "staff.htpasswd").write_text(_htpasswd_line(*STAFF), encoding="utf-8")
    (work / "auditors.htpasswd").write_text(_htpasswd_line(*AUDITOR), encoding="utf-8")
    site = (documented_nginx_site()
            .replace("listen 443 ssl;", f"listen 127.0.0.1:{STAFF_DOOR} ssl;")
            .replace("listen 8443 ssl;", f"listen 127.0.0.1:{AUDITORS_DOOR} ssl;")
            .replace("/etc/nginx/fund_pipeline/", f"{work}/")
            .replace("127.0.0.1:3000", f"127.0.0.1:{SERVE_PORT}")
            .replace("127.0.0.1:3001", f"127.0.0.1:{READ_ONLY_PORT}"))
    (work / "site.conf").write_text(site, encoding="utf-8")
    temp = work / "nginx-temp"
    temp.mkdir()
    # The main file Debian's /etc/nginx/nginx.conf would be, reduced to what a foreground test instance needs.
    (work / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\nworker_processes 1;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\n"
        f"events {{ worker_connections 64; }}\n"
        f"http {{\n  access_log {work}/access.log;\n"
        + "".join(f"  {kind}_temp_path {temp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  include {work}/site.conf;\n}}\n", encoding="utf-8")
    checked = subprocess.run([_nginx(), "-t", "-c", str(work / "nginx.conf")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr

    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUND_PIPELINE_")}
    env.update(DAGSTER_HOME=str(home), FUND_PIPELINE_DATA_DIR=str(work / "data"))
    bin_dir = Path(sys.prefix) / "bin"
    processes = []
    try:
        processes.append(_start([str(bin_dir / "fund-pipeline"), "serve", "--port", str(SERVE_PORT)], env, work / "serve.log"))
        # One at a time: the two webservers would otherwise create the new instance's SQLite tables at once.
        _wait_for(f"http://127.0.0.1:{SERVE_PORT}/server_info", processes[0], work / "serve.log")
        processes.append(_start([str(bin_dir / "dagster-webserver"), "--read-only", "-w", "workspace.yaml",
                                 "-h", "127.0.0.1", "-p", str(READ_ONLY_PORT)], env, work / "read-only.log"))
        processes.append(_start([_nginx(), "-c", str(work / "nginx.conf")], env, work / "nginx.log"))
        _wait_for(f"http://127.0.0.1:{READ_ONLY_PORT}/server_info", processes[1], work / "read-only.log")
        yield work
    finally:
        for process in reversed(processes):
            _stop(process)


def _request(work: Path, port: int, path: str = "/", credentials=None, body: dict | None = None):
    """(status, text) of an HTTPS request to localhost:port, trusting the test's own certificate."""
    request = urllib.request.Request(f"https://localhost:{port}{path}", method="POST" if body else "GET",
                                     data=json.dumps(body).encode() if body else None)
    if body:
        request.add_header("Content-Type", "application/json")
    if credentials:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(credentials).encode()).decode())
    context = ssl.create_default_context(cafile=str(work / "cert.pem"))
    try:
        with urllib.request.urlopen(request, context=context, timeout=60) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def _graphql(work: Path, port: int, credentials, query: str) -> dict:
    status, text = _request(work, port, "/graphql", credentials, {"query": query})
    assert status == 200, text[:2000]
    return json.loads(text)


SELECTOR = f'{{repositoryLocationName: "{LOCATION}", repositoryName: "__repository__", pipelineName: "refresh_job"}}'
LAUNCH = ("mutation { launchPipelineExecution(executionParams: {selector: " + SELECTOR + "}) "
          "{ __typename ... on UnauthorizedError { message } ... on PythonError { message } } }")
PERMISSIONS = "{ permissions { permission value } }"


def test_no_credentials_no_entry(doors):
    for port in (STAFF_DOOR, AUDITORS_DOOR):
        status, _ = _request(doors, port)
        assert status == 401
    assert _request(doors, STAFF_DOOR, credentials=(STAFF[0], "wrong"))[0] == 401


def test_the_staff_reach_the_ui(doors):
    status, page = _request(doors, STAFF_DOOR, credentials=STAFF)
    assert status == 200 and "Dagster" in page
    permissions = {p["permission"]: p["value"] for p in _graphql(doors, STAFF_DOOR, STAFF, PERMISSIONS)["data"]["permissions"]}
    assert permissions["launch_pipeline_execution"] is True


def test_each_door_has_its_own_credentials(doors):
    assert _request(doors, AUDITORS_DOOR, credentials=STAFF)[0] == 401
    assert _request(doors, STAFF_DOOR, credentials=AUDITOR)[0] == 401
    status, page = _request(doors, AUDITORS_DOOR, credentials=AUDITOR)
    assert status == 200 and "Dagster" in page


def test_the_read_only_ui_refuses_to_launch_a_run(doors):
    permissions = {p["permission"]: p["value"]
                   for p in _graphql(doors, AUDITORS_DOOR, AUDITOR, PERMISSIONS)["data"]["permissions"]}
    assert permissions["launch_pipeline_execution"] is False
    answer = _graphql(doors, AUDITORS_DOOR, AUDITOR, LAUNCH)
    assert answer["data"]["launchPipelineExecution"]["__typename"] == "UnauthorizedError", answer


def test_nginx_records_who_asked(doors):
    _graphql(doors, AUDITORS_DOOR, AUDITOR, PERMISSIONS)
    log = (doors / "access.log").read_text(encoding="utf-8")
    assert re.search(rf'^127\.0\.0\.1 - {AUDITOR[0]} .*"POST /graphql', log, flags=re.M)
