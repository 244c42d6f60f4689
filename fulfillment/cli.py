"""The `fulfillment` command: `dev` (the whole stack), `api`, `worker`, `sandbox`, `tenant create|list`
and `import locations|inventory`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

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
    args = parser.parse_args(argv)

    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    if args.command == "dev":
        from fulfillment.dev import run_dev

        return run_dev(settings)
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
