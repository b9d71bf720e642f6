"""Start order-svc: `python -m order_svc`."""

from bangke_runtime.server import serve

from .bootstrap import build


def main() -> None:
    runtime, app = build()
    serve(app, runtime.settings)


if __name__ == "__main__":
    main()
