"""``python -m tests.endpoint --port P``: serve the fault-injecting endpoint in this process
(what :class:`tests.endpoint.process.FaultServer` starts)."""

from __future__ import annotations

import argparse
import logging
import os

from s3common.local_endpoint import LOCAL_ENV


def serve(host: str, port: int) -> None:
    """moto's WSGI app (as ``python -m moto.server`` builds it) wrapped in the fault
    middleware, on werkzeug's threaded server, whose request handler puts the connection in
    ``environ["werkzeug.socket"]`` and closes it after each answer."""
    # moto is imported only now, after main() has set the AWS environment for it.
    import moto.backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    from tests.endpoint.middleware import FaultMiddleware

    # moto lists its package directory on every request to find the backend; the list never
    # changes while the server runs (as bench.endpoint.server does).
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: iter(modules)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    main_app = DomainDispatcherApplication(create_backend_app)
    main_app.debug = True  # type: ignore[attr-defined]  # as moto.server does
    run_simple(host, port, FaultMiddleware(main_app), threaded=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tests.endpoint", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    args = p.parse_args(argv)
    os.environ.update({k: v for k, v in LOCAL_ENV.items() if k not in os.environ})
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
