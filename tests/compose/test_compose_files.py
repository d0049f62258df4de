"""Static checks of the Docker Compose setup in compose/: they need no Docker engine.

The compose files are read as YAML and, for the three-broker variant, merged the way
`docker compose -f compose.yaml -f compose.brokers3.yaml` merges them (for the keys these files
use). They are checked against the code and the local stack they mirror: the environment
variables the code reads, the README's configuration table, the provisioning command in
stack/cli.py, the service modules, instance ids and principals in stack/services.py, the client
settings in stack/security.py and the broker settings in stack/conf/kafka/server.properties.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.manifest import load_manifest
from stack import security as local_stack_security
from stack.services import services as local_stack_services

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
BASE = COMPOSE / "compose.yaml"
BROKERS3 = COMPOSE / "compose.brokers3.yaml"
DOCKERFILE = COMPOSE / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

VARIANTS = {"one broker": (BASE,), "three brokers": (BASE, BROKERS3)}
PROJECT_SERVICES = ("registry-rights", "provision", "invoice", "score", "dashboard")
ONE_SHOT = ("provision", "registry-rights")  # run to completion; every other service runs until stopped
BUILDER = "registry-rights"  # the one service that builds the project's image (it runs first); the others run it
CORE_VARIABLES = ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
CODE_FOLDERS = ("messaging", "services", "contracts", "stack")
KAFKA_IMAGE = "confluentinc/cp-kafka"
REGISTRY_IMAGE = "confluentinc/cp-schema-registry"

# Set on the provisioning container by the three-broker override; provisioning reads them (contracts/provision.py).
DURABILITY_VARIABLES = ("TOPIC_REPLICATION_FACTOR", "TOPIC_MIN_INSYNC_REPLICAS")

# Keys whose lists a later compose file replaces instead of extending.
REPLACED_LISTS = {"command", "entrypoint", "test"}


# ---------------------------------------------------------------------------------------------
# Reading the files


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), f"{path.relative_to(ROOT)} is not a YAML mapping"
    return document


def _environment(value: Any) -> dict[str, str]:
    """Compose's list form (NAME=value) and mapping form, as one mapping of strings."""
    if isinstance(value, list):
        pairs = (item.partition("=") for item in value)
        return {name: text for name, _, text in pairs}
    return {name: _string(text) for name, text in (value or {}).items()}


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _volume_target(entry: Any) -> str:
    """The path in the container: long syntax's target, or short syntax's source:TARGET[:mode]."""
    if isinstance(entry, dict):
        return entry["target"]
    parts = str(entry).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def merge(base: Any, override: Any, key: str = "") -> Any:
    """Merge a later compose file into an earlier one, as compose does for the keys used here.

    Mappings (services by name, environment, depends_on, healthcheck, volumes) merge key by key;
    command, entrypoint and healthcheck.test are replaced; volumes merge by mount target, other
    lists (ports) are extended with the entries they do not hold yet.
    """
    if key == "environment":
        return {**_environment(base), **_environment(override)}
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            merged[name] = merge(base[name], value, name) if name in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list) and key not in REPLACED_LISTS:
        if key == "volumes":
            targets = {_volume_target(entry) for entry in override}
            return [entry for entry in base if _volume_target(entry) not in targets] + override
        return base + [entry for entry in override if entry not in base]
    return override


def configuration(variant: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in VARIANTS[variant]:
        merged = merge(merged, load(path))
    return merged


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def config(variant: str) -> dict[str, Any]:
    return configuration(variant)


@pytest.fixture(scope="module")
def single() -> dict[str, Any]:
    return configuration("one broker")


@pytest.fixture(scope="module")
def three() -> dict[str, Any]:
    return configuration("three brokers")


def services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return config["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    return _environment(service.get("environment"))


def brokers(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Kafka nodes (registry-rights runs the same image for its kafka-acls, and is none)."""
    return {name: s for name, s in services(config).items()
            if s.get("image", "").startswith(KAFKA_IMAGE + ":") and "KAFKA_PROCESS_ROLES" in environment(s)}


def long_running(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services(config).items() if name not in ONE_SHOT}


def published_ports(service: dict[str, Any]) -> dict[int, tuple[str, int]]:
    """{container port: (host address, host port)} from the short or long port syntax."""
    found = {}
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            found[int(entry["target"])] = (entry.get("host_ip", ""), int(entry.get("published", entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        host_ip = parts[0] if len(parts) == 3 else ""
        found[int(parts[-1])] = (host_ip, int(parts[-2]) if len(parts) > 1 else int(parts[-1]))
    return found


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """"NAME://host:port,..." as {NAME: (host, port)}."""
    found = {}
    for item in value.split(","):
        name, _, address = item.strip().partition("://")
        host, _, port = address.rpartition(":")
        found[name] = (host, int(port))
    return found


def internal_addresses(config: dict[str, Any]) -> set[str]:
    """Each broker's address for the other containers: its advertised CLIENT listener."""
    return {"{}:{}".format(*listeners(environment(b)["KAFKA_ADVERTISED_LISTENERS"])["CLIENT"])
            for b in brokers(config).values()}


def healthcheck_text(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def image_is_pinned(image: str) -> bool:
    """An exact release: name:[v]MAJOR.MINOR.PATCH[-variant] (Mailpit's tags start with v) or a digest; never latest
    or no tag."""
    if re.fullmatch(r"[\w./-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}", image):
        return True
    match = re.fullmatch(r"[\w./-]+:(?P<tag>[\w.-]+)", image)
    return bool(match) and re.fullmatch(r"v?\d+\.\d+\.\d+(-[\w.-]+)?", match["tag"]) is not None


# ---------------------------------------------------------------------------------------------
# What the code reads, the README documents and the local stack runs


# os.environ, or an environment passed in as `env` (contracts.env.kafka_client reads a principal's that way).
ENV_READ = re.compile(r"""(?:os\.environ\.get\(|os\.getenv\(|os\.environ\[|\benv\.get\(|env_int\()\s*["']([A-Z][A-Z0-9_]*)["']""")


@pytest.fixture(scope="module")
def variables_the_code_reads() -> set[str]:
    names = set()
    for folder in CODE_FOLDERS:
        for source in (ROOT / folder).rglob("*.py"):
            names.update(ENV_READ.findall(source.read_text()))
    assert {"KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "HEALTH_PORT"} <= names, "the scan found too little"
    return names


@pytest.fixture(scope="module")
def readme_configuration() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Configuration")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _calls(path: Path) -> list[ast.Call]:
    return [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]


@pytest.fixture(scope="module")
def local_provisioning_arguments() -> list[str]:
    """The arguments after the interpreter in stack/cli.py's [sys.executable, "-m", "contracts", ...]."""
    for node in ast.walk(ast.parse((ROOT / "stack" / "cli.py").read_text())):
        if (
            isinstance(node, ast.List)
            and node.elts
            and ast.unparse(node.elts[0]) == "sys.executable"
            and all(isinstance(e, ast.Constant) for e in node.elts[1:])
            and [e.value for e in node.elts[1:3]] == ["-m", "contracts"]
        ):
            return [e.value for e in node.elts[1:]]
    raise AssertionError("stack/cli.py no longer runs [sys.executable, '-m', 'contracts', ...]")


@pytest.fixture(scope="module")
def local_services() -> dict[str, dict[str, Any]]:
    """The services `make up` starts in its default shape: {name (its INSTANCE_ID): {module, port, port_variable,
    principal}}."""
    found = {s.name: {"module": s.module, "port": s.port, "port_variable": s.port_variable, "principal": s.principal}
             for s in local_stack_services()}
    assert set(found) == {"invoice", "score", "dashboard"}, f"unexpected services in stack/services.py: {found}"
    return found


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.fixture(scope="module")
def local_client_variables() -> set[str]:
    """The variables stack/security.py's client_env gives every local client: compose must use the same names."""
    tree = ast.parse((ROOT / "stack" / "security.py").read_text())
    function = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "client_env")
    names = {key.value for node in ast.walk(function) if isinstance(node, ast.Dict) for key in node.keys
             if isinstance(key, ast.Constant)}
    names |= {node.slice.value for node in ast.walk(function) if isinstance(node, ast.Subscript)
              and isinstance(node.ctx, ast.Store) and isinstance(node.slice, ast.Constant)}
    assert {"KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"} <= names, "the scan found too little"
    return names


# ---------------------------------------------------------------------------------------------
# The files and their images


def test_merging_a_later_file_follows_compose_rules() -> None:
    base = {"services": {"a": {
        "command": ["x", "1"], "environment": ["A=1", "B=2"], "ports": ["1:1"], "volumes": ["v:/data", "w:/logs"],
        "healthcheck": {"test": ["CMD", "old"], "interval": "5s"}, "depends_on": {"b": {"condition": "service_started"}},
    }}}
    override = {"services": {
        "a": {
            "command": ["y"], "environment": {"B": 3, "C": False}, "ports": ["2:2"], "volumes": ["u:/data"],
            "healthcheck": {"test": ["CMD", "new"]}, "depends_on": {"c": {"condition": "service_healthy"}},
        },
        "c": {"image": "c:1.0.0"},
    }}
    merged = merge(base, override)["services"]
    assert merged["a"] == {
        "command": ["y"], "environment": {"A": "1", "B": "3", "C": "false"}, "ports": ["1:1", "2:2"],
        "volumes": ["w:/logs", "u:/data"], "healthcheck": {"test": ["CMD", "new"], "interval": "5s"},
        "depends_on": {"b": {"condition": "service_started"}, "c": {"condition": "service_healthy"}},
    }
    assert merged["c"] == {"image": "c:1.0.0"}


@pytest.mark.parametrize("path", [BASE, BROKERS3], ids=lambda p: p.name)
def test_compose_file_parses_as_yaml_with_services(path: Path) -> None:
    document = load(path)
    assert isinstance(document.get("services"), dict) and document["services"]
    assert "version" not in document, "the top-level version key is obsolete in the Compose specification"


def test_override_only_extends_services_and_volumes_of_the_base_file() -> None:
    base, override = load(BASE), load(BROKERS3)
    new_services = set(override["services"]) - set(base["services"])
    assert new_services == set(brokers(configuration("three brokers"))) - {"kafka"}, (
        f"the override adds services other than brokers: {sorted(new_services)}"
    )


def test_every_image_is_pinned_to_an_exact_version(config: dict[str, Any]) -> None:
    for name, service in services(config).items():
        assert "image" in service, f"{name} has no image (a built service needs its tag too)"
        assert image_is_pinned(service["image"]), f"{name}: image {service['image']!r} is not pinned to an exact version"


def test_kafka_and_registry_come_from_one_confluent_platform_version(config: dict[str, Any]) -> None:
    versions = {
        s["image"].split(":")[1]
        for s in services(config).values()
        if s["image"].split(":")[0] in (KAFKA_IMAGE, REGISTRY_IMAGE)
    }
    assert len(versions) == 1, f"Kafka and the registry mix Confluent Platform versions: {sorted(versions)}"


def test_project_image_is_built_once_from_the_repository_with_the_project_version(
    config: dict[str, Any], project: dict[str, Any]
) -> None:
    # Four services building and exporting the same tag at once race each other; one builds, the others run it.
    built = [name for name, service in services(config).items() if "build" in service]
    assert built == [BUILDER], f"the project's image is built by {built}, not by {BUILDER} alone"
    build = services(config)[BUILDER]["build"]
    assert (COMPOSE / build["context"]).resolve() == ROOT, f"{BUILDER} is not built from the repository root"
    assert (COMPOSE / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    for name in PROJECT_SERVICES:
        service = services(config)[name]
        assert service["image"] == f"accounting-events:{project['version']}", f"{name} runs {service['image']}"
        if name != BUILDER:
            assert service.get("pull_policy") == "never", f"{name} would look for the project's image on a registry"
            assert BUILDER in waits_for(config, name), f"{name} may start before {BUILDER} built its image"


def waits_for(config: dict[str, Any], name: str) -> set[str]:
    """Every service `name` waits for, directly or through the ones it waits for."""
    found: set[str] = set()
    todo = list(services(config)[name].get("depends_on", {}))
    while todo:
        other = todo.pop()
        if other not in found:
            found.add(other)
            todo += list(services(config)[other].get("depends_on", {}))
    return found


# ---------------------------------------------------------------------------------------------
# Health, start order, ports and state


def test_every_long_running_service_has_a_healthcheck(config: dict[str, Any]) -> None:
    for name, service in long_running(config).items():
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check.get("test"), f"{name} has no healthcheck"
        assert check["test"] != ["NONE"], f"{name} disables the image's healthcheck"


def test_every_dependency_names_a_condition_that_can_be_met(config: dict[str, Any]) -> None:
    everything = services(config)
    for path in VARIANTS["three brokers"]:  # each file as written, before merging, too
        for name, service in load(path)["services"].items():
            assert isinstance(service.get("depends_on", {}), dict), f"{path.name}: {name}'s depends_on has no conditions"
    for name, service in everything.items():
        for dependency, how in service.get("depends_on", {}).items():
            assert dependency in everything, f"{name} depends on unknown service {dependency}"
            condition = (how or {}).get("condition")
            assert condition in CONDITIONS, f"{name} depends on {dependency} without a condition"
            if condition == "service_healthy":
                assert "healthcheck" in everything[dependency], (
                    f"{name} waits for {dependency} to be healthy, which has no healthcheck")
            if condition == "service_completed_successfully":
                assert dependency in ONE_SHOT, f"{name} waits for long-running {dependency} to complete"


def test_services_start_in_order_of_health(config: dict[str, Any]) -> None:
    everything = services(config)

    def waits(name: str) -> dict[str, str]:
        return {d: how["condition"] for d, how in everything[name].get("depends_on", {}).items()}

    every_broker = {name: "service_healthy" for name in brokers(config)}
    assert waits("registry-rights") == every_broker
    assert waits("schema-registry") == {**every_broker, "registry-rights": "service_completed_successfully"}
    assert waits("provision") == {**every_broker, "schema-registry": "service_healthy"}
    for name in ("invoice", "score"):
        assert waits(name) == {"provision": "service_completed_successfully"}, name
    # The dashboard mails links at sign-up: the mail catcher first.
    assert waits("dashboard") == {"provision": "service_completed_successfully", "mailpit": "service_healthy"}


def test_provisioning_runs_once_and_every_service_adopts_it(config: dict[str, Any]) -> None:
    # Adopted through service_completed_successfully, its exit (0) does not fail `up --wait`.
    provision = services(config)["provision"]
    assert provision.get("restart") == "no", 'provision must say restart: "no" (a quoted string)'
    assert "healthcheck" not in provision and "ports" not in provision
    for name, service in long_running(config).items():
        assert service.get("restart") == "unless-stopped", f"{name} is not restarted when it dies"
    for name in ("invoice", "score", "dashboard"):
        assert services(config)[name]["depends_on"]["provision"]["condition"] == "service_completed_successfully"


def test_kafka_registry_and_dashboard_publish_their_ports_on_the_host(config: dict[str, Any]) -> None:
    everything = services(config)
    host_listener = listeners(environment(everything["kafka"])["KAFKA_LISTENERS"])["HOST"][1]
    assert published_ports(everything["kafka"])[host_listener] == ("127.0.0.1", 9092)
    assert published_ports(everything["schema-registry"])[8081][1] == 8081
    assert published_ports(everything["dashboard"])[8000][1] == 8000
    used = [port for s in everything.values() for port in published_ports(s).values()]
    assert len(used) == len(set(used)), f"two services publish the same host port: {used}"


def test_state_lives_in_named_volumes(config: dict[str, Any]) -> None:
    declared = set(config.get("volumes") or {})
    stateful = {**brokers(config), **{n: services(config)[n] for n in ("invoice", "score", "dashboard")}}
    for name, service in stateful.items():
        # Writable mounts only: the brokers' start script is a read-only bind mount, and holds no state.
        sources = [str(v).split(":")[0] for v in service.get("volumes", []) if not str(v).endswith(":ro")]
        assert sources and all(source in declared for source in sources), f"{name} keeps its state outside a named volume"
    paths = {
        "invoice": environment(services(config)["invoice"])["STATE_DIR"],
        "score": environment(services(config)["score"])["STATE_DIR"],
        "dashboard": environment(services(config)["dashboard"])["DATABASE_URL"].removeprefix("sqlite:///"),
    }
    for name, path in paths.items():
        mounts = [_volume_target(v) for v in services(config)[name]["volumes"]]
        assert any(path.startswith(mount.rstrip("/") + "/") for mount in mounts), f"{name}'s database {path} is not in its volume"
    for name, service in brokers(config).items():
        log_dirs = environment(service)["KAFKA_LOG_DIRS"]
        assert log_dirs in [_volume_target(v) for v in service["volumes"]], f"{name}'s {log_dirs} is not its volume"


# ---------------------------------------------------------------------------------------------
# The project's containers: the same commands and variables as the local stack


def test_project_services_set_only_variables_the_code_reads(config: dict[str, Any], variables_the_code_reads: set[str]) -> None:
    for name in PROJECT_SERVICES:
        unknown = set(environment(services(config)[name])) - variables_the_code_reads
        assert not unknown, f"{name} sets variables no code under {', '.join(CODE_FOLDERS)}/ reads: {sorted(unknown)}"


def test_core_connection_variables_are_set_on_every_project_service(config: dict[str, Any]) -> None:
    internal = sorted(internal_addresses(config))
    for name in PROJECT_SERVICES:
        env = environment(services(config)[name])
        for variable in CORE_VARIABLES:
            assert env.get(variable), f"{name} does not set {variable}"
        assert sorted(env["KAFKA_BOOTSTRAP_SERVERS"].split(",")) == internal, (
            f"{name} does not bootstrap from every broker's internal listener ({internal})"
        )
        # Confluent's registry serves its API at the root (Apicurio's local one under /apis/ccompat/v7), over TLS
        # with the compose CA, which every client is given.
        assert env["SCHEMA_REGISTRY_URL"] == "https://schema-registry:8081", name
        assert env["SCHEMA_REGISTRY_SSL_CA_LOCATION"] in mounted_secrets(services(config)[name]), name


def test_every_variable_on_a_project_service_is_in_the_readme_configuration_table(
    config: dict[str, Any], readme_configuration: str
) -> None:
    for name in PROJECT_SERVICES:
        undocumented = [
            v for v in environment(services(config)[name]) if f"`{v}`" not in readme_configuration
        ]
        assert not undocumented, f"{name} sets variables README.md's configuration table does not document: {undocumented}"


def test_three_broker_provisioning_variables_are_read_by_the_code(
    three: dict[str, Any], variables_the_code_reads: set[str], readme_configuration: str
) -> None:
    assert set(DURABILITY_VARIABLES) <= set(environment(services(three)["provision"]))
    missing = [v for v in DURABILITY_VARIABLES if v not in variables_the_code_reads]
    assert not missing, f"{missing} are set on provision by compose/compose.brokers3.yaml but provisioning does not read them"
    undocumented = [v for v in DURABILITY_VARIABLES if f"`{v}`" not in readme_configuration]
    assert not undocumented, f"README.md's configuration table does not document {undocumented}"


def test_provision_container_runs_the_local_stacks_provisioning_command(
    config: dict[str, Any], local_provisioning_arguments: list[str]
) -> None:
    command = services(config)["provision"]["command"]
    assert command == ["python", *local_provisioning_arguments], (
        f"provision runs {command}; the local stack runs python {' '.join(local_provisioning_arguments)}"
    )


def test_each_service_container_runs_the_local_stacks_module_on_its_port(
    config: dict[str, Any], local_services: dict[str, dict[str, Any]]
) -> None:
    for name, local in local_services.items():
        service = services(config)[name]
        assert service["command"] == ["python", "-m", local["module"]], f"{name} runs {service['command']}"
        assert environment(service)[local["port_variable"]] == str(local["port"]), f"{name}'s {local['port_variable']}"
        check = healthcheck_text(service)
        assert f"127.0.0.1:{local['port']}/readyz" in check, f"{name}'s healthcheck does not ask /readyz on {local['port']}"


def test_dashboard_listens_on_every_interface_of_its_container(config: dict[str, Any]) -> None:
    assert environment(services(config)["dashboard"])["DASHBOARD_HOST"] == "0.0.0.0"


def test_dashboard_secret_key_is_never_written_in_the_file(config: dict[str, Any]) -> None:
    secret = environment(services(config)["dashboard"]).get("SECRET_KEY", "")
    assert secret == "" or secret.startswith("${SECRET_KEY"), "SECRET_KEY must come from the environment"


# ---------------------------------------------------------------------------------------------
# Kafka and the registry


def test_single_broker_matches_the_local_stacks_server_properties(single: dict[str, Any]) -> None:
    """Every fixed setting of stack/conf/kafka/server.properties, as the image's KAFKA_* variable."""
    env = environment(services(single)["kafka"])
    properties = {}
    for line in (ROOT / "stack" / "conf" / "kafka" / "server.properties").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            properties[key.strip()] = value.strip()
    fixed = {k: v for k, v in properties.items() if "${" not in v and k != "listener.security.protocol.map"}
    assert "offsets.topic.replication.factor" in fixed and "auto.create.topics.enable" in fixed
    for key, value in fixed.items():
        variable = "KAFKA_" + "".join({".": "_", "_": "__", "-": "___"}.get(c, c.upper()) for c in key)
        assert env.get(variable) == value, f"kafka's {variable} is {env.get(variable)!r}; server.properties has {key}={value}"


def test_each_broker_listens_for_containers_the_host_and_the_controller(config: dict[str, Any]) -> None:
    for name, broker in brokers(config).items():
        env = environment(broker)
        bound, advertised = listeners(env["KAFKA_LISTENERS"]), listeners(env["KAFKA_ADVERTISED_LISTENERS"])
        protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        assert set(bound) == set(protocols) == {"CLIENT", "HOST", "CONTROLLER"}, name
        assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER" and "CONTROLLER" not in advertised
        assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "CLIENT"
        host = broker.get("hostname", name)
        assert advertised["CLIENT"] == (host, bound["CLIENT"][1]), f"{name} advertises {advertised['CLIENT']}"
        assert advertised["HOST"] == published_ports(broker)[bound["HOST"][1]], (
            f"{name} advertises {advertised['HOST']} to the host but publishes {broker.get('ports')}"
        )
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
        assert "kafka-broker-api-versions" in healthcheck_text(broker) or "kafka-topics" in healthcheck_text(broker)


def test_registry_serves_the_confluent_api_from_kafka_with_backward_as_default(config: dict[str, Any]) -> None:
    registry = services(config)["schema-registry"]
    env = environment(registry)
    # HTTPS only, with a keystore compose/secrets.sh makes and a password from compose/.env.
    assert env["SCHEMA_REGISTRY_LISTENERS"] == "https://0.0.0.0:8081"
    assert env["SCHEMA_REGISTRY_INTER_INSTANCE_PROTOCOL"] == "https"
    assert env["SCHEMA_REGISTRY_SSL_KEYSTORE_LOCATION"] in mounted_secrets(registry)
    assert "https://localhost:8081/" in healthcheck_text(registry) and "/run/secrets/ca.pem" in healthcheck_text(registry)
    assert env["SCHEMA_REGISTRY_HOST_NAME"] == registry.get("hostname", "schema-registry")
    assert env["SCHEMA_REGISTRY_SCHEMA_COMPATIBILITY_LEVEL"] == "BACKWARD"
    storage = load_manifest().registry
    assert storage is not None
    assert env["SCHEMA_REGISTRY_KAFKASTORE_TOPIC"].startswith(storage.topic_prefix)
    assert env["SCHEMA_REGISTRY_KAFKASTORE_GROUP_ID"].startswith(storage.group_prefix)
    assert env["SCHEMA_REGISTRY_SCHEMA_REGISTRY_GROUP_ID"].startswith(storage.group_prefix)
    stores = {address.removeprefix("SASL_SSL://") for address in env["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"].split(",")}
    assert stores == internal_addresses(config)
    assert env["SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR"] == str(len(brokers(config)))
    assert "8081/subjects" in healthcheck_text(registry) or "8081/" in healthcheck_text(registry)


# ---------------------------------------------------------------------------------------------
# Security: the local stack's settings, under its variable names, with every secret from outside the files

SECRETS_SCRIPT = COMPOSE / "secrets.sh"
ENV_EXAMPLE = COMPOSE / ".env.example"
PASSWORD_VARIABLE = re.compile(r"\$\{([A-Z_]+)_PASSWORD:\?[^}]*\}")


def mounted_secrets(service: dict[str, Any]) -> set[str]:
    """The files compose mounts in the container: /run/secrets/<target>."""
    return {"/run/secrets/" + (entry["target"] if isinstance(entry, dict) else entry) for entry in service.get("secrets", [])}


def principals_of(config: dict[str, Any], local_services: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Who each project service is: provisioning runs as the local stack's admin, each service as its own principal."""
    return {BUILDER: local_stack_security.ADMIN, "provision": local_stack_security.ADMIN,
            **{name: local["principal"] for name, local in local_services.items()}}


def test_each_service_has_the_local_stacks_instance_id(config: dict[str, Any], local_services: dict[str, dict[str, Any]]) -> None:
    # Static membership and the transactional id: a restarted container takes its partitions back at once.
    for name in local_services:
        assert environment(services(config)[name]).get("INSTANCE_ID") == name, f"{name} has no INSTANCE_ID {name!r}"


def test_every_client_sets_what_the_local_stack_gives_its_clients(
    config: dict[str, Any], local_client_variables: set[str]
) -> None:
    for name in PROJECT_SERVICES:
        missing = local_client_variables - set(environment(services(config)[name]))
        assert not missing, f"{name} lacks {sorted(missing)}, which the local stack gives every client"


def test_every_client_connects_as_its_own_principal_over_sasl_ssl(
    config: dict[str, Any], local_services: dict[str, dict[str, Any]]
) -> None:
    for name, principal in principals_of(config, local_services).items():
        service = services(config)[name]
        env = environment(service)
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert env["KAFKA_SASL_MECHANISM"] == local_stack_security.MECHANISM, name
        assert env["KAFKA_SASL_USERNAME"] == principal, f"{name} connects as {env['KAFKA_SASL_USERNAME']}, not {principal}"
        password = PASSWORD_VARIABLE.fullmatch(env["KAFKA_SASL_PASSWORD"])
        assert password and password[1] == principal.upper(), f"{name}'s password is not ${{{principal.upper()}_PASSWORD}}"
        assert env["SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"] == f"{principal}:{env['KAFKA_SASL_PASSWORD']}", name
        assert env["KAFKA_SSL_CA_LOCATION"] in mounted_secrets(service), f"{name} does not mount its CA file"


def test_every_broker_requires_sasl_over_tls_and_allows_only_what_an_acl_says(config: dict[str, Any]) -> None:
    for name, broker in brokers(config).items():
        env = environment(broker)
        protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        assert protocols.pop(env["KAFKA_CONTROLLER_LISTENER_NAMES"]) == "SASL_PLAINTEXT", name  # as on the local stack
        assert set(protocols.values()) == {"SASL_SSL"}, f"{name} has a listener without SASL_SSL: {protocols}"
        for listener in protocols:
            prefix = f"KAFKA_LISTENER_NAME_{listener}_"
            assert env[prefix + "SASL_ENABLED_MECHANISMS"] == local_stack_security.MECHANISM, (name, listener)
            assert env[prefix + "SCRAM___SHA___512_SASL_JAAS_CONFIG"].startswith(
                "org.apache.kafka.common.security.scram.ScramLoginModule required"), (name, listener)
            assert env[prefix + "SSL_KEYSTORE_TYPE"] == "PEM", (name, listener)
            assert env[prefix + "SSL_KEYSTORE_LOCATION"] in mounted_secrets(broker), (name, listener)
        assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer", name
        assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false", name
        assert env["KAFKA_SUPER_USERS"] == f"User:{local_stack_security.ADMIN};User:{local_stack_security.CONTROLLER}"
        # The image's start, formatting the storage with the SCRAM users the first clients need.
        assert broker["command"] == ["bash", "/usr/local/bin/compose-kafka", "start"], name
        assert "./kafka.sh:/usr/local/bin/compose-kafka:ro" in broker["volumes"], name


def test_no_secret_is_written_in_the_compose_files(config: dict[str, Any]) -> None:
    for name, service in services(config).items():
        for variable, value in environment(service).items():
            if variable.endswith(("PASSWORD", "USER_INFO")):
                assert PASSWORD_VARIABLE.fullmatch(value.partition(":")[2] if variable.endswith("USER_INFO") else value), (
                    f"{name}'s {variable} is not taken from compose/.env")
            for secret in re.findall(r'(?:password|user_\w+)="([^"]*)"', value):
                assert PASSWORD_VARIABLE.fullmatch(secret), f"{name}'s {variable} holds a password written in the file"
    for ignore in (ROOT / ".gitignore", DOCKERIGNORE):
        patterns = {line.strip().rstrip("/") for line in ignore.read_text().splitlines()}
        assert {"compose/.env", "compose/secrets"} <= patterns, f"{ignore.name} does not keep compose's secrets out"


def test_every_password_and_secret_file_compose_reads_is_one_secrets_sh_makes(config: dict[str, Any]) -> None:
    script = SECRETS_SCRIPT.read_text()
    used = {match for path in VARIANTS["three brokers"] for match in PASSWORD_VARIABLE.findall(path.read_text())}
    made = set(re.search(r'passwords="([A-Z_ ]+)"', script)[1].split())
    assert used == made, f"compose reads the passwords of {sorted(used)}; compose/secrets.sh makes {sorted(made)}"
    assert {line.partition("=")[0] for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line} == {
        f"{name}_PASSWORD" for name in made}, "compose/.env.example does not list the passwords compose reads"
    for secret in config["secrets"].values():
        path = Path(secret["file"])
        assert path.parts[0] == "secrets" and path.name in script, (
            f"{secret['file']} is not a file compose/secrets.sh writes")


def test_provisioning_reads_each_services_password_where_secrets_sh_writes_it(
    config: dict[str, Any], local_services: dict[str, dict[str, Any]]
) -> None:
    provision = services(config)["provision"]
    folder = environment(provision)["CREDENTIALS_DIR"]
    script = SECRETS_SCRIPT.read_text()
    sources = {entry["target"]: config["secrets"][entry["source"]]["file"]
               for entry in provision["secrets"] if isinstance(entry, dict)}
    for local in local_services.values():
        principal = local["principal"]
        assert f"{folder}/{principal}.env" in mounted_secrets(provision), f"provisioning cannot read {principal}'s password"
        written = Path(sources[f"{principal}.env"]).name
        assert f'KAFKA_SASL_PASSWORD=${principal.upper()}_PASSWORD" > "$secrets/credentials/{written}"' in script


def test_the_registry_asks_every_client_for_basic_auth_and_stores_as_its_own_principal(config: dict[str, Any]) -> None:
    registry = services(config)["schema-registry"]
    env = environment(registry)
    assert env["SCHEMA_REGISTRY_AUTHENTICATION_METHOD"] == "BASIC"
    login = env["SCHEMA_REGISTRY_OPTS"].removeprefix("-Djava.security.auth.login.config=")
    assert login in mounted_secrets(registry), "the registry's JAAS file is not mounted"
    script = SECRETS_SCRIPT.read_text()
    assert f"{env['SCHEMA_REGISTRY_AUTHENTICATION_REALM']} {{" in script, "the JAAS file names another realm"
    # Unauthenticated: the healthcheck's path alone, which tells nothing.
    assert env["SCHEMA_REGISTRY_AUTHENTICATION_SKIP_PATHS"] == "/schemas/types"
    assert "8081/schemas/types" in healthcheck_text(registry)
    roles = set(env["SCHEMA_REGISTRY_AUTHENTICATION_ROLES"].split(","))
    for name in PROJECT_SERVICES:
        user = environment(services(config)[name])["SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"].partition(":")[0]
        granted = re.search(rf"^{user}: \$[A-Z]+_PASSWORD,(\w+)$", script, re.MULTILINE)
        assert granted and granted[1] in roles, f"the registry has no user {user} with a role it lets in"
    assert env["SCHEMA_REGISTRY_KAFKASTORE_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["SCHEMA_REGISTRY_KAFKASTORE_SASL_MECHANISM"] == local_stack_security.MECHANISM
    assert 'username="registry"' in env["SCHEMA_REGISTRY_KAFKASTORE_SASL_JAAS_CONFIG"]
    assert env["SCHEMA_REGISTRY_KAFKASTORE_SSL_TRUSTSTORE_LOCATION"] in mounted_secrets(registry)


def test_the_registry_principal_gets_the_rights_the_manifest_derives_before_the_registry_starts(
    config: dict[str, Any],
) -> None:
    rights = services(config)["registry-rights"]
    storage = load_manifest().registry
    assert storage is not None
    assert rights["command"] == ["python", "-m", "contracts", "acls", "--apply", storage.principal]
    assert environment(rights)["KAFKA_SASL_USERNAME"] == "admin"
    registry = environment(services(config)["schema-registry"])
    assert f'username="{storage.principal}"' in registry["SCHEMA_REGISTRY_KAFKASTORE_SASL_JAAS_CONFIG"]


# ---------------------------------------------------------------------------------------------
# Three brokers


def test_three_broker_override_runs_three_kraft_nodes_in_one_quorum(three: dict[str, Any]) -> None:
    nodes = brokers(three)
    assert len(nodes) == 3
    envs = {name: environment(broker) for name, broker in nodes.items()}
    ids = {name: int(env["KAFKA_NODE_ID"]) for name, env in envs.items()}
    assert len(set(ids.values())) == 3, f"node ids are not distinct: {ids}"
    assert len({env["CLUSTER_ID"] for env in envs.values()}) == 1, "the brokers disagree on CLUSTER_ID"
    voter_lists = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs.values()}
    assert len(voter_lists) == 1, f"the brokers disagree on the voters: {voter_lists}"
    voters = dict(item.split("@") for item in voter_lists.pop().split(","))
    for name, broker in nodes.items():
        controller = listeners(envs[name]["KAFKA_LISTENERS"])["CONTROLLER"][1]
        assert voters[str(ids[name])] == f"{broker.get('hostname', name)}:{controller}", f"{name} is not its own voter"
        assert envs[name]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_single_broker_is_its_own_only_voter(single: dict[str, Any]) -> None:
    env = environment(services(single)["kafka"])
    controller = listeners(env["KAFKA_LISTENERS"])["CONTROLLER"][1]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:{controller}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"]), "CLUSTER_ID is not a base64 UUID"


def test_three_broker_override_replicates_internal_topics_three_times_with_min_isr_two(three: dict[str, Any]) -> None:
    for name, broker in brokers(three).items():
        env = environment(broker)
        for variable in (
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR",
        ):
            assert env.get(variable) == "3", f"{name}: {variable}={env.get(variable)}"
        for variable in ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR",
                         "KAFKA_MIN_INSYNC_REPLICAS"):
            assert env.get(variable) == "2", f"{name}: {variable}={env.get(variable)}"


def test_three_broker_override_provisions_topics_with_replication_three_and_min_isr_two(
    single: dict[str, Any], three: dict[str, Any]
) -> None:
    env = environment(services(three)["provision"])
    assert env.get("TOPIC_REPLICATION_FACTOR") == "3"
    assert env.get("TOPIC_MIN_INSYNC_REPLICAS") == "2"
    assert not set(DURABILITY_VARIABLES) & set(environment(services(single)["provision"])), (
        "the single broker keeps the manifest's replication factor"
    )


def test_three_brokers_keep_their_data_apart_from_the_single_broker(single: dict[str, Any], three: dict[str, Any]) -> None:
    # Its metadata and topics have one replica: reusing the single node's volume would mix them.
    assert single["name"] != three["name"]


# ---------------------------------------------------------------------------------------------
# The image


def dockerfile_instructions() -> list[tuple[str, str]]:
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        current += raw.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        instruction, _, arguments = current.strip().partition(" ")
        lines.append((instruction.upper(), " ".join(arguments.split())))
        current = ""
    return lines


def test_dockerfile_base_image_is_pinned_to_an_exact_version() -> None:
    bases = [args.split()[0] for instruction, args in dockerfile_instructions() if instruction == "FROM"]
    assert bases, "no FROM"
    for base in bases:
        assert image_is_pinned(base), f"FROM {base} is not pinned to an exact version"


def test_dockerfile_switches_to_a_non_root_user_it_creates() -> None:
    steps = dockerfile_instructions()
    users = [args for instruction, args in steps if instruction == "USER"]
    assert users, "the image runs as root: no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"the image runs as {users[-1]}"
    runs = " ".join(args for instruction, args in steps if instruction == "RUN")
    created = re.findall(r"useradd ([^&;|]*)", runs)
    assert any(
        (f"--uid {user} " in f"{options} " if user.isdigit() else options.split()[-1] == user) for options in created
    ), f"USER {user} is not a user the Dockerfile creates with useradd"
    last_user = max(i for i, (instruction, _) in enumerate(steps) if instruction == "USER")
    assert not [i for i, (instruction, _) in enumerate(steps) if instruction == "RUN" and i > last_user], (
        "commands run after USER, as the non-root user, should come before it"
    )


def test_dockerfile_installs_dependencies_before_copying_the_source() -> None:
    steps = dockerfile_instructions()
    copies = [(i, args.split()[:-1]) for i, (instruction, args) in enumerate(steps) if instruction == "COPY"]
    dependency_copy = next(i for i, sources in copies if set(sources) == {"pyproject.toml", "constraints.txt"})
    install_dependencies = next(
        i for i, (instruction, args) in enumerate(steps) if instruction == "RUN" and "-c constraints.txt" in args
    )
    source_copies = [i for i, sources in copies if set(sources) & {"contracts", "messaging", "services", "stack", "."}]
    assert source_copies, "the source is never copied"
    assert dependency_copy < install_dependencies < min(source_copies), (
        "the dependency layer must be built from pyproject.toml and constraints.txt before the source is copied"
    )
    install_project = [i for i, (instruction, args) in enumerate(steps) if instruction == "RUN" and "--no-deps" in args]
    assert install_project and install_project[0] > max(source_copies), (
        "the project is installed without dependencies after its source")
    for package in ("contracts", "messaging", "services"):
        assert any(package in sources for _, sources in copies), f"{package}/ is not copied"


def test_dockerfile_installs_runtime_dependencies_only() -> None:
    text = " ".join(args for instruction, args in dockerfile_instructions() if instruction == "RUN")
    assert "['project']['dependencies']" in text or '["project"]["dependencies"]' in text
    assert "[test]" not in text and "optional-dependencies" not in text
    for tool in ("pytest", "hypothesis", "playwright", "chromium", "build-essential", "gcc"):
        assert tool not in text, f"the image installs {tool}"


def test_dockerfile_sets_a_workdir_and_unbuffered_output() -> None:
    steps = dockerfile_instructions()
    assert any(instruction == "WORKDIR" for instruction, _ in steps)
    env = " ".join(args for instruction, args in steps if instruction == "ENV")
    assert re.search(r"\bPYTHONUNBUFFERED=1\b", env)


def test_dockerignore_keeps_local_state_out_but_lets_the_image_sources_in() -> None:
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    for required in (".venv", ".cache", "var", "results", "test-artifacts", ".git", "**/__pycache__"):
        assert required in patterns, f".dockerignore does not exclude {required}"
    copied = [
        source
        for instruction, args in dockerfile_instructions()
        if instruction == "COPY"
        for source in args.split()[:-1]
        if not source.startswith("--")
    ]
    for source in copied:
        excluded = [p for p in patterns if not p.startswith("!") and fnmatch.fnmatch(source, p)]
        assert not excluded, f"{source}, which the Dockerfile copies, is excluded by .dockerignore {excluded}"
