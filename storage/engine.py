"""Engine creation and schema migrations (Alembic), the same code for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.expression import Executable
from sqlmodel import Session, SQLModel, create_engine

from domain.errors import Conflict, FieldError, NotFound

M = TypeVar("M", bound=SQLModel)

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the API read while the worker writes; busy_timeout queues writers instead of failing.
    cur = dbapi_conn.cursor()
    for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL", "foreign_keys=ON"):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    """A `write_scope` takes SQLite's write lock at BEGIN, so its reads cannot go stale before it
    writes. Other transactions keep pysqlite's own BEGIN, emitted at their first write."""
    if conn.get_execution_options().get(_WRITE):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


_WRITE = "fulfillment_read_modify_write"


def dialect_insert(conn: Connection) -> Any:
    """The connection's dialect's INSERT, the one that has ON CONFLICT (SQLite and PostgreSQL alike)."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def prepared(build: Callable[[Any], Executable]) -> Callable[[Connection], Executable]:
    """A statement built once per dialect (from its INSERT) and executed with parameters: building
    one with `.values(...)` on every call costs more than running it, on a change's hot path."""
    built: dict[str, Executable] = {}

    def get(conn: Connection) -> Executable:
        name = conn.dialect.name
        if name not in built:
            built[name] = build(dialect_insert(conn))
        return built[name]

    return get


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is there already."""
    cfg = _config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several replicas may start at once: one migrates, the others wait for it.
            conn.execute(text("SELECT pg_advisory_xact_lock(72657301)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on an exception."""
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
    except StaleDataError:  # the row was changed or deleted by a concurrent request
        raise Conflict.one(
            "CONCURRENT_CHANGE", "it changed or was deleted meanwhile; read it again"
        ) from None


@contextmanager
def write_scope(engine: Engine, what: str) -> Iterator[Session]:
    """A read-modify-write transaction that no concurrent writer can interleave with: SQLite takes its
    write lock at BEGIN; on PostgreSQL read the row with `with_for_update=True`. Two first inserts of
    one key race on the primary key: the loser is a Conflict, never a 500."""
    try:
        locking = engine.execution_options(**{_WRITE: True})
        with Session(locking, expire_on_commit=False) as session, session.begin():
            yield session
    except IntegrityError:
        raise Conflict.one(
            "CONCURRENT_WRITE", f"the {what} changed meanwhile; read it again", "version"
        ) from None


def fetch(s: Session, model: type[M], key: Any, code: str, what: str, field: str = "id") -> M:
    """The row with this primary key, or NotFound (code, message and field for the API's 404)."""
    row = s.get(model, key)
    if row is None:
        name = key[-1] if isinstance(key, tuple) else key
        raise NotFound([FieldError(code, f"no {what} {name!r}", field)])
    return row


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
