"""The `fulfillment` command: `dev` (the whole stack), `api`, `worker`, `sandbox`, `tenant create|list`,
`import locations|inventory` and `secrets rotate|generate-key`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from pydantic import ValidationError

from config.settings import Settings
from fulfillment.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fulfillment", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="run Temporal dev server, worker and API together")
    sub.add_parser("api", help="run the HTTP API")
    sub.add_parser("worker", help="run a worker")
    sub.add_parser("sandbox", help="run the partner sandbox (simulated partners with fault injection)")
    tenant = sub.add_parser("tenant", help="manage tenants").add_subparsers(
        dest="tenant_command", required=True
    )
    create = tenant.add_parser("create", help="create a tenant and print its API key (shown once)")
    create.add_argument("name", help="tenant id: a-z, 0-9 and '-'")
    create.add_argument("--scopes", help="comma-separated scopes (default: all but admin)")
    tenant.add_parser("list", help="list tenants")
    imp = sub.add_parser("import", help="bulk-load locations or inventory from a CSV file")
    imp.add_argument("kind", choices=["locations", "inventory"])
    imp.add_argument("file", type=Path)
    imp.add_argument("--tenant", required=True)
    keys = sub.add_parser("secrets", help="secrets at rest (FULFILLMENT_SECRET_KEY)").add_subparsers(
        dest="secrets_command", required=True
    )
    keys.add_parser("rotate", help="re-encrypt every stored secret under the first key of the list")
    keys.add_parser("generate-key", help="print a new key for FULFILLMENT_SECRET_KEY")
    args = parser.parse_args(argv)

    try:
        settings = Settings()
    except ValidationError as e:  # a bad FULFILLMENT_* value: name the variable, no traceback
        for error in e.errors():
            name = "FULFILLMENT_" + "_".join(str(part) for part in error["loc"]).upper()
            print(f"{name}: {error['msg']} (given {error.get('input')!r})", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level)
    if args.command == "dev":
        from fulfillment.dev import run_dev

        return run_dev(settings)
    if args.command == "secrets":
        return _secrets(args, settings)
    if args.command in ("api", "worker") and not _install_keyring(settings, seal=args.command == "api"):
        return 2
    if args.command == "api":
        import uvicorn

        from api.app import create_app

        uvicorn.run(
            create_app(settings),
            host=settings.api_host,
            port=settings.api_port,
            access_log=False,
            log_config=None,
        )
        return 0
    if args.command == "worker":
        from workers.worker import run_worker

        asyncio.run(run_worker(settings))
        return 0
    if args.command == "sandbox":
        from aiohttp import web

        from sandbox.app import create_app as create_sandbox

        secrets = [s for s in settings.sandbox_webhook_secrets.split(",") if s]
        web.run_app(create_sandbox(secrets), host="127.0.0.1", port=settings.sandbox_port, print=None)
        return 0
    if args.command == "import":
        return _import(args, settings)
    return _tenant(args, settings)


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from fulfillment.imports import run_import
    from storage.engine import make_engine, migrate

    if not args.file.exists():
        print(f"error: {args.file} does not exist", file=sys.stderr)
        return 2
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    count, problems = run_import(engine, args.tenant, args.kind, args.file)
    for problem in problems[:50]:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"nothing imported: {len(problems)} problem(s)", file=sys.stderr)
        return 2
    print(f"imported {count} {args.kind} row(s) for tenant {args.tenant}")
    return 0


def _install_keyring(settings: Settings, seal: bool) -> bool:
    """Refuse to start without a usable key; with `seal`, encrypt the secrets stored in plaintext
    before encryption existed (the API does this at every start: a no-op once they are)."""
    from storage import connectors, push, secrets, webhooks
    from storage.engine import make_engine, migrate

    try:
        keyring = secrets.from_settings(settings)
    except secrets.SecretKeyError as e:
        print(f"error: {e}", file=sys.stderr)
        return False
    secrets.install(keyring)
    if seal:
        engine = make_engine(settings.resolved_database_url)
        try:
            migrate(engine)
            webhooks.reencrypt(engine, keyring, legacy_only=True)
            push.reencrypt(engine, keyring, legacy_only=True)
            connectors.reencrypt(engine, keyring, legacy_only=True)
        finally:
            engine.dispose()
    return True


def _secrets(args: argparse.Namespace, settings: Settings) -> int:
    from storage import connectors, push, secrets, webhooks
    from storage.engine import make_engine, migrate

    if args.secrets_command == "generate-key":
        print(secrets.new_key())
        return 0
    try:
        keyring = secrets.from_settings(settings)
    except secrets.SecretKeyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    hooks, apps = webhooks.reencrypt(engine, keyring), push.reencrypt(engine, keyring)
    partners = connectors.reencrypt(engine, keyring)
    engine.dispose()
    print(
        f"re-encrypted {hooks.count} webhook(s), {apps.count} push application(s) and "
        f"{partners.count} connector(s) under the first key"
    )
    failed = hooks.undecryptable + apps.undecryptable + partners.undecryptable
    for what in failed:
        print(f"error: {what}: no key in FULFILLMENT_SECRET_KEY decrypts it", file=sys.stderr)
    if failed:
        print("keep every key until this command runs without errors", file=sys.stderr)
        return 1
    print("the keys after the first can be removed from FULFILLMENT_SECRET_KEY now")
    return 0


def _tenant(args: argparse.Namespace, settings: Settings) -> int:
    from domain.errors import DomainError
    from storage import tenants
    from storage.engine import make_engine, migrate

    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    if args.tenant_command == "list":
        for t in tenants.list_tenants(engine):
            print(f"{t.id}\t{t.name}\t{t.created_at.isoformat()}")
        return 0
    scopes = [s.strip() for s in args.scopes.split(",")] if args.scopes else None
    try:
        tenants.check_scopes(scopes or [])
        tenants.create_tenant(engine, args.name)
        key = tenants.issue_key(engine, args.name, scopes, label="cli")
    except (DomainError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"tenant {args.name} created; API key (shown once, store it now):\n{key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
