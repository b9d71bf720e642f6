"""Command line of the Bangke local stack: Kafka, FerretDB, versitygw, nginx and the six services on 127.0.0.1.

Run it inside the project's uv environment, from the repository root:

    uv run --frozen python deploy/local/stack.py up|down|status|logs [part]|build|restart PART

Tests import ``ensure_infra`` from here (or from the ``bangke_stack`` package beside this file).
"""

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bangke_stack.commands import StackError, build, down, ensure_infra, logs, restart, status, up  # noqa: E402
from bangke_stack.parts import Options  # noqa: E402

__all__ = ["ensure_infra"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stack.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="build what is missing, start every part and wait until all are ready")
    up_parser.add_argument(
        "--demo-clock",
        action="store_true",
        help="run the services in the demo environment with BANGKE_CLOCK_FILE=.stack/demo-clock",
    )
    commands.add_parser("down", help="stop every part this stack started; data stays in .stack/data")
    commands.add_parser("status", help="show each part as up, down or foreign, with pid, port and resident memory")
    commands.add_parser("build", help="fetch the Kafka jars and build FerretDB and versitygw when missing")
    commands.add_parser("infra", help="start only Kafka with its topics, FerretDB and versitygw (as the tests do)")
    restart_parser = commands.add_parser(
        "restart", help="stop one part and start it again (the fault suite restarts kafka and ferretdb with it)"
    )
    restart_parser.add_argument("part", help="part name, such as kafka, ferretdb or order-svc")
    restart_parser.add_argument(
        "--demo-clock", action="store_true", help="for a service: start it in the demo environment (see up)"
    )
    logs_parser = commands.add_parser("logs", help="print the end of the logs of one part or of all parts")
    logs_parser.add_argument("part", nargs="?", help="part name, such as kafka, nginx or identity-svc")
    logs_parser.add_argument("-n", "--lines", type=int, default=None, help="lines per log (default 100 for one part, 20 for all)")
    logs_parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines (tail -F)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Probes expect "connection refused" while a server starts; aiokafka would log each one.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        if args.command == "up":
            return up(Options(demo_clock=args.demo_clock))
        if args.command == "down":
            return down()
        if args.command == "status":
            return status()
        if args.command == "build":
            build()
            return 0
        if args.command == "restart":
            return restart(args.part, Options(demo_clock=args.demo_clock))
        if args.command == "infra":
            for name, value in ensure_infra(echo=print).items():
                print(f"{name}={value}")
            return 0
        lines = args.lines
        if lines is None:
            lines = 100 if args.part else 20
        return logs(args.part, lines, args.follow)
    except StackError as error:
        print(error, file=sys.stderr)
        return 1
    except KeyError as error:
        print(error.args[0], file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
