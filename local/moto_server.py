"""`python -m local.moto_server [moto.server options]`: moto's server with the local fixes installed.

For a moto in a process of its own (the benchmarks run it that way); the local stack and the
integration tests install the same fixes (local.moto_dynamodb) into their in-process server.
"""

from __future__ import annotations

import sys

from local.moto_dynamodb import install


def main(argv: list[str] | None = None) -> None:
    install()
    from moto.server import main as serve

    serve(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
