"""Start review-svc: `python -m review_svc`."""

from bangke_runtime.server import serve

from .bootstrap import build


def main() -> None:
    runtime, app = build()
    serve(app, runtime.settings)


if __name__ == "__main__":
    main()
