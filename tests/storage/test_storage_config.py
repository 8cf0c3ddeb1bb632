"""StorageConfig from the environment and from --store URLs (spec §6.5), and open_stores."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.storage.storage_helpers import RedisServer, ctx, data, free_port, scope

from greentic_runner.errors import ConfigError, StoreError
from greentic_runner.storage import (
    InMemorySessionStore,
    InMemoryStateStore,
    RedisSessionStore,
    RedisStateStore,
    SqliteSessionStore,
    SqliteStateStore,
    StorageConfig,
    open_stores,
)
from greentic_runner.storage.sqlite import DEFAULT_SQLITE_PATH

URL = "redis://:s3cret@127.0.0.1:6390/2"


def env(**values: str) -> dict[str, str]:
    names = {
        "session": "GREENTIC_RUNNER_SESSION_BACKEND",
        "state": "GREENTIC_RUNNER_STATE_BACKEND",
        "url": "GREENTIC_RUNNER_REDIS_URL",
        "namespace": "GREENTIC_RUNNER_SESSION_NAMESPACE",
        "path": "GREENTIC_RUNNER_SQLITE_PATH",
        "greentic_env": "GREENTIC_ENV",
    }
    return {names[key]: value for key, value in values.items()}


def test_default_is_sqlite_at_the_documented_path() -> None:
    config = StorageConfig.from_env({})
    assert (config.session_backend, config.state_backend) == ("sqlite", "sqlite")
    assert config.sqlite_path == DEFAULT_SQLITE_PATH == Path(".greentic/runner.db")
    assert StorageConfig() == config


def test_default_backend_can_be_memory() -> None:
    assert StorageConfig.from_env({}, default_backend="memory") == StorageConfig.memory()


def test_values_are_trimmed_and_empty_is_unset() -> None:
    config = StorageConfig.from_env(
        env(session="  redis ", state=" ", url=f" {URL} ", namespace="  ", greentic_env=" prod ")
    )
    assert config.session_backend == "redis"
    assert config.state_backend == "sqlite"
    assert config.redis_url == URL
    assert config.session_namespace == "greentic:session:prod"


def test_an_unnamed_backend_never_becomes_redis_because_of_a_url() -> None:
    config = StorageConfig.from_env(env(url=URL, greentic_env="prod"), default_backend="memory")
    assert config == StorageConfig.memory()
    assert config.redis_url is None


def test_explicit_namespace_beats_the_derived_one() -> None:
    config = StorageConfig.from_env(
        env(session="redis", url=URL, namespace="custom", greentic_env="prod")
    )
    assert config.session_namespace == "custom"


def test_sqlite_path_from_env() -> None:
    assert StorageConfig.from_env(env(path="/data/r.db")).sqlite_path == Path("/data/r.db")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            env(session="redis", namespace="ns"),
            "session backend 'redis' was requested but no Redis URL was supplied "
            "(set GREENTIC_RUNNER_REDIS_URL); refusing",
        ),
        (env(session="redis", url="  ", namespace="ns"), "session backend 'redis' was requested"),
        (env(state="redis"), "state backend 'redis' was requested but no Redis URL"),
        (
            env(session="redis", url=URL),
            "no keyspace could be resolved: set GREENTIC_RUNNER_SESSION_NAMESPACE, or "
            "GREENTIC_ENV to derive 'greentic:session:<env>'",
        ),
        (
            env(session="postgres"),
            "unknown session backend 'postgres' (expected 'memory', 'sqlite' or 'redis')",
        ),
        (env(state="Redis"), "unknown state backend 'Redis'"),
    ],
    ids=["no-url", "blank-url", "state-no-url", "no-namespace", "unknown-session", "unknown-state"],
)
def test_refusals(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        StorageConfig.from_env(values)
    assert message in str(caught.value)


def test_state_redis_needs_no_namespace() -> None:
    config = StorageConfig.from_env(env(state="redis", url=URL))
    assert (config.session_backend, config.state_backend) == ("sqlite", "redis")


def test_direct_construction_is_validated() -> None:
    with pytest.raises(ConfigError, match="no Redis URL"):
        StorageConfig("redis", "memory", session_namespace="ns")
    with pytest.raises(ConfigError, match="no keyspace"):
        StorageConfig("redis", "memory", redis_url=URL)
    with pytest.raises(ConfigError, match="unknown session backend 'disk'"):
        StorageConfig("disk", "memory")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "backend", "path"),
    [
        ("memory", "memory", DEFAULT_SQLITE_PATH),
        ("sqlite:runner.db", "sqlite", Path("runner.db")),
        ("sqlite:./x/runner.db", "sqlite", Path("x/runner.db")),
        ("sqlite:///abs/runner.db", "sqlite", Path("/abs/runner.db")),
        (" sqlite:/abs/runner.db ", "sqlite", Path("/abs/runner.db")),
    ],
)
def test_from_url(url: str, backend: str, path: Path) -> None:
    config = StorageConfig.from_url(url, {})
    assert (config.session_backend, config.state_backend) == (backend, backend)
    assert config.sqlite_path == path


def test_from_url_redis() -> None:
    config = StorageConfig.from_url(URL, env(greentic_env="dev"))
    assert (config.session_backend, config.state_backend) == ("redis", "redis")
    assert config.redis_url == URL
    assert config.session_namespace == "greentic:session:dev"
    assert StorageConfig.from_url(URL, {}, namespace="mine").session_namespace == "mine"
    assert StorageConfig.from_url("rediss://h:1/0", env(namespace="n")).session_namespace == "n"
    with pytest.raises(ConfigError, match="no keyspace"):
        StorageConfig.from_url(URL, {})


@pytest.mark.parametrize("url", ["sqlite:", "postgres://u:s3cret@h/db", "mem", ""])
def test_from_url_refusals_never_echo_secrets(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        StorageConfig.from_url(url, {})
    assert "s3cret" not in str(caught.value)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30))
def test_repr_and_describe_never_show_the_url(password: str) -> None:
    url = f"redis://user:{password}@example.com:6379/0"
    config = StorageConfig("redis", "redis", redis_url=url, session_namespace="greentic:session:x")
    for text in (repr(config), config.describe()):
        assert url not in text
    assert config.describe() == "session: redis (namespace 'greentic:session:x'); state: redis"


@given(
    backend=st.sampled_from(["memory", "sqlite", "redis"]),
    left=st.sampled_from(["", " ", "\t", "  \n"]),
    right=st.sampled_from(["", " ", "\t", "\r\n"]),
)
def test_backend_names_are_trimmed(backend: str, left: str, right: str) -> None:
    values = env(session=f"{left}{backend}{right}", url=URL, greentic_env="dev")
    assert StorageConfig.from_env(values).session_backend == backend


def test_describe() -> None:
    assert StorageConfig.memory().describe() == "session: in-memory; state: in-memory"
    assert StorageConfig().describe() == (
        "session: sqlite (.greentic/runner.db); state: sqlite (.greentic/runner.db)"
    )
    assert not StorageConfig.memory().is_durable
    assert StorageConfig().is_durable


# -- open_stores -------------------------------------------------------------------------------


async def test_open_memory() -> None:
    stores = await open_stores(StorageConfig.memory())
    assert isinstance(stores.session, InMemorySessionStore)
    assert isinstance(stores.state, InMemoryStateStore)
    await stores.close()


async def test_open_sqlite_shares_one_database(tmp_path: Path) -> None:
    config = StorageConfig.from_url(f"sqlite:{tmp_path / 'r.db'}", {})
    async with await open_stores(config) as stores:
        assert isinstance(stores.session, SqliteSessionStore)
        assert isinstance(stores.state, SqliteStateStore)
        assert stores.session.db is stores.state.db
        await stores.session.register_wait(ctx(), "u1", scope(), "k1", data())
    async with await open_stores(config) as stores:
        assert await stores.session.get_session("k1") == data()
    await stores.close()  # idempotent


async def test_open_mixed_backends(tmp_path: Path) -> None:
    config = StorageConfig("memory", "sqlite", sqlite_path=tmp_path / "r.db")
    async with await open_stores(config) as stores:
        assert isinstance(stores.session, InMemorySessionStore)
        assert isinstance(stores.state, SqliteStateStore)


@pytest.mark.redis
async def test_open_redis_probes_and_shares_one_client(redis_server: RedisServer) -> None:
    config = StorageConfig.from_url(redis_server.url, {}, namespace="open-test")
    async with await open_stores(config) as stores:
        assert isinstance(stores.session, RedisSessionStore)
        assert isinstance(stores.state, RedisStateStore)
        assert stores.session.client is stores.state.client
        assert stores.session.namespace == "open-test"


async def test_unreachable_redis_fails_startup_without_the_url() -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    with pytest.raises(StoreError) as caught:
        await open_stores(StorageConfig.from_url(url, {}, namespace="ns"))
    assert str(caught.value).startswith("session store redis is unreachable: ")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(StoreError, match="state store redis is unreachable"):
        await open_stores(StorageConfig("memory", "redis", redis_url=url))


async def test_unopenable_sqlite_fails_startup(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="sqlite store"):
        await open_stores(StorageConfig(sqlite_path=tmp_path / "file" / "r.db"))


def test_turn_lease_is_configurable_and_validated() -> None:
    from greentic_runner.errors import ConfigError
    from greentic_runner.storage.config import StorageConfig

    assert StorageConfig.from_env({}).turn_lease_secs == 30.0
    env = {"GREENTIC_RUNNER_TURN_LEASE_SECS": " 12.5 "}
    assert StorageConfig.from_env(env).turn_lease_secs == 12.5
    assert StorageConfig.from_url("sqlite:x.db", env).turn_lease_secs == 12.5
    for bad in ("0", "abc", "99999"):
        with pytest.raises(ConfigError, match="GREENTIC_RUNNER_TURN_LEASE_SECS must be"):
            StorageConfig.from_env({"GREENTIC_RUNNER_TURN_LEASE_SECS": bad})


async def test_open_stores_applies_the_lease(tmp_path: Path) -> None:
    from greentic_runner.storage.config import StorageConfig, open_stores

    config = StorageConfig.from_url(
        f"sqlite:{tmp_path / 'l.db'}", {"GREENTIC_RUNNER_TURN_LEASE_SECS": "7"}
    )
    async with await open_stores(config) as stores:
        assert stores.session._policy.lease_secs == 7.0  # type: ignore[attr-defined]
