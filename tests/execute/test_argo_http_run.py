"""Argo `http` templates on a host: the executor makes the request, against a local server."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from foredeck.execute.local import run_pipeline
from foredeck.execute.sandbox import Sandbox
from foredeck.pipeline.load import load_pipeline_text
from tests.execute.kube.kube_double import self_signed

pytestmark = pytest.mark.timeout(60)

HEAD = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: calls}
spec:
  entrypoint: main
  arguments:
    parameters: [{name: base}]
"""


@dataclass
class Server:
    """A loopback server (a thread, a free port) that records what it received."""

    base: str
    received: list[dict[str, object]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    flaky_calls: int = 0


def _handler(state: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet test output
            pass

        def _reply(self, status: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("X-Kind", "greeting")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/hello":
                self._reply(200, b"hello world")
            elif self.path == "/slow":
                state.release.wait(20)  # until the test ends: the client gives up first
                self._reply(200, b"late")
            elif self.path == "/big":
                self._reply(200, b"x" * (3 * 1024 * 1024 + 1))
            elif self.path == "/flaky":
                state.flaky_calls += 1
                self._reply(500 if state.flaky_calls == 1 else 200, b"try again")
            else:
                self._reply(404, b"no such page")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            state.received.append(
                {"path": self.path, "body": body, "headers": dict(self.headers.items())}
            )
            self._reply(201, json.dumps({"got": body}).encode(), "application/json")

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _serve(None)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[Server]:
    """HTTPS with a self-signed certificate (one no client trusts)."""
    yield from _serve(tmp_path / "tls")


def _serve(tls_dir: Path | None) -> Iterator[Server]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Server("")))
    scheme = "http"
    if tls_dir is not None:
        tls_dir.mkdir()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self_signed(tls_dir))
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    state = Server(f"{scheme}://127.0.0.1:{httpd.server_address[1]}")
    httpd.RequestHandlerClass = _handler(state)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()


@dataclass
class Ran:
    status: str
    tasks: dict[str, str]
    results: dict[str, dict[str, object]]
    log: str


def run(templates: str, tmp_path: Path, server: Server) -> Ran:
    spec = load_pipeline_text(HEAD + templates, "wf.yaml", {"base": server.base})
    out = tmp_path / "out"
    result = asyncio.run(run_pipeline(spec, out, parallel=2))
    tasks: dict[str, str] = {name: task.status for name, task in result.tasks.items()}
    results: dict[str, dict[str, object]] = {
        name: dict(task.results) for name, task in result.tasks.items()
    }
    return Ran(result.status, tasks, results, (out / "build-log.txt").read_text())


def call(http: str, extra: str = "") -> str:
    """A workflow whose entrypoint calls the `call` template once (as task `get`)."""
    return f"""\
  templates:
    - name: main
      dag:
        tasks:
          - {{name: get, template: call}}
{extra}
    - name: call
      http:
{http}
"""


def test_a_get_succeeds_and_its_body_is_the_result_a_later_task_reads(
    tmp_path: Path, server: Server
) -> None:
    check = """\
          - name: use
            depends: get
            template: check
            arguments:
              parameters: [{name: got, value: "{{tasks.get.outputs.result}}"}]
    - name: check
      inputs: {parameters: [{name: got}]}
      script:
        image: busybox
        command: [sh]
        source: test "{{inputs.parameters.got}}" = "hello world"
"""
    ran = run(call('        url: "{{workflow.parameters.base}}/hello"', check), tmp_path, server)
    assert ran.status == "Succeeded", ran.log
    assert ran.tasks == {"get": "Succeeded", "use": "Succeeded"}
    assert ran.results["get"]["result"] == "hello world"
    assert f"http: GET {server.base}/hello" in ran.log
    assert "http: 200 OK, 11 bytes" in ran.log


def test_a_404_fails_the_task_and_says_so(tmp_path: Path, server: Server) -> None:
    ran = run(call('        url: "{{workflow.parameters.base}}/nothing"'), tmp_path, server)
    assert ran.status == "Failed"
    assert ran.tasks == {"get": "Failed"}
    assert "received non-2xx response code: 404" in ran.log
    assert ran.results["get"]["result"] == "no such page"  # Argo sets it on failure too


@pytest.mark.parametrize(
    ("condition", "ends"),
    [
        ('response.body contains "hello" && response.statusCode == 200', "Succeeded"),
        ('response.headers["X-Kind"][0] == "greeting"', "Succeeded"),
        ('response.body contains "bye"', "Failed"),
        ("response.statusCode == 404", "Succeeded"),  # a condition replaces the 2xx rule
    ],
)
def test_a_success_condition_over_the_response_decides(
    tmp_path: Path, server: Server, condition: str, ends: str
) -> None:
    page = "nothing" if "404" in condition else "hello"
    http = f'        url: "{{{{workflow.parameters.base}}}}/{page}"\n'
    http += f"        successCondition: {json.dumps(condition)}"
    ran = run(call(http), tmp_path, server)
    assert ran.tasks == {"get": ends}, ran.log
    if ends == "Failed":
        assert f"successCondition {condition!r} evaluated false" in ran.log


def test_a_request_past_timeout_seconds_fails(tmp_path: Path, server: Server) -> None:
    http = '        url: "{{workflow.parameters.base}}/slow"\n        timeoutSeconds: 1'
    ran = run(call(http), tmp_path, server)
    assert ran.tasks == {"get": "Failed"}
    assert "no response within 1 s (timeoutSeconds)" in ran.log


def test_a_task_timeout_bounds_the_request_too(tmp_path: Path, server: Server) -> None:
    templates = call('        url: "{{workflow.parameters.base}}/slow"').replace(
        "      http:", "      timeout: 1s\n      http:"
    )
    ran = run(templates, tmp_path, server)
    assert ran.tasks == {"get": "TimedOut"}, ran.log
    assert "task timeout expired during the request" in ran.log


def test_a_failed_request_is_retried_by_the_retry_strategy(tmp_path: Path, server: Server) -> None:
    templates = call('        url: "{{workflow.parameters.base}}/flaky"').replace(
        "      http:", "      retryStrategy: {limit: 2}\n      http:"
    )
    ran = run(templates, tmp_path, server)
    assert ran.tasks == {"get": "Succeeded"}, ran.log
    assert server.flaky_calls == 2
    assert "received non-2xx response code: 500" in ran.log


def test_a_post_sends_its_body_and_headers_and_logs_no_header_value(
    tmp_path: Path, server: Server
) -> None:
    http = """\
        url: "{{workflow.parameters.base}}/echo?token=abc123"
        method: POST
        headers:
          - {name: X-Token, value: s3cret-value}
          - {name: Content-Type, value: application/json}
        body: '{"who": "{{workflow.name}}"}'
        successCondition: response.statusCode == 201 && response.body contains "calls"
"""
    ran = run(call(http), tmp_path, server)
    assert ran.tasks == {"get": "Succeeded"}, ran.log
    [got] = server.received
    assert got["path"] == "/echo?token=abc123"
    assert got["body"] == '{"who": "calls"}'
    headers = got["headers"]
    assert isinstance(headers, dict)
    assert headers["X-Token"] == "s3cret-value"
    assert headers["Content-Type"] == "application/json"
    assert "headers: X-Token, Content-Type" in ran.log
    assert "s3cret-value" not in ran.log
    assert "abc123" not in ran.log  # query values are hidden too


def test_a_header_from_a_secret_fails_on_a_host_saying_why(tmp_path: Path, server: Server) -> None:
    http = """\
        url: "{{workflow.parameters.base}}/hello"
        headers:
          - name: Authorization
            valueFrom: {secretKeyRef: {name: api, key: token}}
"""
    ran = run(call(http), tmp_path, server)
    assert ran.tasks == {"get": "Failed"}
    assert "reads key 'token' of Secret 'api': a host run has no Kubernetes Secrets" in ran.log


def test_a_body_too_large_for_a_result_fails_the_task(tmp_path: Path, server: Server) -> None:
    ran = run(call('        url: "{{workflow.parameters.base}}/big"'), tmp_path, server)
    assert ran.tasks == {"get": "Failed"}
    assert "response body over 3 MiB: too large for outputs.result" in ran.log


@pytest.mark.parametrize("skip", [True, False])
def test_insecure_skip_verify_accepts_an_untrusted_certificate(
    tmp_path: Path, tls_server: Server, skip: bool
) -> None:
    http = '        url: "{{workflow.parameters.base}}/hello"'
    if skip:
        http += "\n        insecureSkipVerify: true"
    ran = run(call(http), tmp_path, tls_server)
    assert ran.tasks == {"get": "Succeeded" if skip else "Failed"}, ran.log
    if not skip:
        assert "CERTIFICATE_VERIFY_FAILED" in ran.log


def test_cancelling_the_run_stops_a_request_in_flight(tmp_path: Path, server: Server) -> None:
    spec = load_pipeline_text(
        HEAD + call('        url: "{{workflow.parameters.base}}/slow"'),
        "wf.yaml",
        {"base": server.base},
    )

    async def cancelled() -> str:
        cancel = asyncio.Event()
        asyncio.get_running_loop().call_later(0.5, cancel.set)
        result = await run_pipeline(spec, tmp_path / "out", parallel=2, cancel=cancel)
        return result.tasks["get"].status

    assert asyncio.run(cancelled()) == "Cancelled"
    assert "http request stopped: run cancelled" in (tmp_path / "out" / "build-log.txt").read_text()


def test_loopback_is_reached_directly_whatever_proxy_the_environment_names(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.9:1")  # nothing listens there
    ran = run(call('        url: "{{workflow.parameters.base}}/hello"'), tmp_path, server)
    assert ran.tasks == {"get": "Succeeded"}, ran.log


def test_a_run_whose_steps_have_no_network_makes_no_request_for_them(
    tmp_path: Path, server: Server
) -> None:
    """`sandbox.network: false` gives steps loopback only, their own; an http task is made by
    foredeck, on the host's network, so it would reach what the steps cannot (the host's
    loopback: foredeck's API, its database): it fails, saying why, and sends nothing."""
    spec = load_pipeline_text(
        HEAD + call('        url: "{{workflow.parameters.base}}/hello"'),
        "wf.yaml",
        {"base": server.base},
    )
    out = tmp_path / "out"
    sandbox = Sandbox(None, network=False)
    result = asyncio.run(run_pipeline(spec, out, sandbox=sandbox))
    assert result.status == "Failed"
    assert result.tasks["get"].status == "Failed"
    assert "steps have no network" in result.tasks["get"].reason
    assert server.received == []
