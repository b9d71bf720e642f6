"""Integration servers from the local stack of deploy/local, started when their probes fail.

Servers started here keep running after the test session, so the next run finds them warm;
`make down` stops them.
"""

import sys
from pathlib import Path

from .infra_types import Infra

_STACK_DIR = Path(__file__).resolve().parents[2] / "deploy" / "local"


def provision_local_stack() -> Infra:
    """Start Kafka with its topics, FerretDB and versitygw as needed; raise StackError when one fails."""
    if str(_STACK_DIR) not in sys.path:
        sys.path.insert(0, str(_STACK_DIR))
    from bangke_stack import ensure_infra

    endpoints = ensure_infra()
    return Infra(
        kafka_bootstrap=endpoints["kafka_bootstrap"],
        mongo_uri=endpoints["mongo_uri"],
        s3_endpoint=endpoints["s3_endpoint"],
        s3_access_key=endpoints["s3_access_key"],
        s3_secret_key=endpoints["s3_secret_key"],
        kind="local-stack",
    )
