"""Choose the real servers for a test run.

``BANGKE_TEST_INFRA`` selects them: ``containers`` (testcontainers on Docker, or on Podman when no
Docker engine answers), ``local-stack`` (the processes of deploy/local, started if not running), or
``auto`` (the default: containers when an engine works, else the local stack), or ``external``
(servers already running elsewhere on this machine, named by ``BANGKE_TEST_KAFKA``,
``BANGKE_TEST_MONGO_URI`` and ``BANGKE_TEST_S3``).
"""

import contextlib
import logging
import os
from collections.abc import Iterator

from .infra_types import Infra

log = logging.getLogger("bangke.tests")


@contextlib.contextmanager
def provision() -> Iterator[Infra]:
    mode = os.environ.get("BANGKE_TEST_INFRA", "auto")
    if mode not in ("auto", "containers", "local-stack", "external"):
        raise ValueError(f"BANGKE_TEST_INFRA={mode!r}: use auto, containers, local-stack or external")

    if mode == "external":
        infra = Infra(
            kafka_bootstrap=os.environ["BANGKE_TEST_KAFKA"],
            mongo_uri=os.environ["BANGKE_TEST_MONGO_URI"],
            s3_endpoint=os.environ["BANGKE_TEST_S3"],
            s3_access_key=os.environ.get("BANGKE_TEST_S3_ACCESS_KEY", "bangke-local"),
            s3_secret_key=os.environ.get("BANGKE_TEST_S3_SECRET_KEY", "bangke-local-secret"),
            kind="external",
        )
        _announce(infra)
        yield infra
        return

    if mode in ("auto", "containers"):
        try:
            from . import containers
        except ImportError as error:
            if mode == "containers":
                raise
            log.warning("container provisioning unavailable (%s); using the local stack", error)
        else:
            engine = containers.containers_available()
            if engine is not None:
                with containers.provision_containers() as infra:
                    _announce(infra)
                    yield infra
                return
            if mode == "containers":
                raise RuntimeError("BANGKE_TEST_INFRA=containers but neither Docker nor Podman works here")

    from .local_stack import provision_local_stack

    infra = provision_local_stack()
    _announce(infra)
    yield infra


PROVISIONED: list[Infra] = []
"""The servers this test session used, for the closing summary."""


def _announce(infra: Infra) -> None:
    PROVISIONED.append(infra)
    message = (
        f"integration servers: {infra.kind} (kafka {infra.kafka_bootstrap}, "
        f"mongodb {infra.mongo_uri}, s3 {infra.s3_endpoint})"
    )
    log.warning(message)
    print(f"\n{message}", flush=True)
