"""Start identity-svc with `python -m identity_svc`, or rotate its signing keys with `python -m identity_svc rotate-keys`."""

import argparse

from bangke_runtime.server import serve

from .bootstrap import build, key_store
from .settings import IdentitySettings


def rotate_keys() -> None:
    """Add a signing key to BANGKE_JWT_KEYS_DIR; running replicas pick it up when they re-read the folder."""
    settings = IdentitySettings()
    keys = key_store(settings)
    keys.ensure_key()
    state = keys.rotate()
    print(f"new key {state.key.kid} signs from {state.activates_at.isoformat()}")
    for other in keys.states():
        if other.key.kid != state.key.kid:
            print(f"key {other.key.kid} stays published until the new key signs and its last token expires")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m identity_svc", description=__doc__)
    parser.add_argument("command", nargs="?", choices=["serve", "rotate-keys"], default="serve")
    command = parser.parse_args().command
    if command == "rotate-keys":
        rotate_keys()
        return
    runtime, app = build()
    serve(app, runtime.settings)


if __name__ == "__main__":
    main()
