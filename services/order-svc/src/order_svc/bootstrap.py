"""Wire order-svc together: runtime, HTTP routes, Kafka subscribers and periodic jobs."""

from fastapi import FastAPI

from bangke_contracts.catalogue import load_catalogue
from bangke_runtime.app import create_app, setup_logging
from bangke_runtime.runtime import Runtime, build_runtime

from .adapters.eligibility_store import EligibilityStore
from .adapters.order_store import OrderStore
from .domain.service_types import load_service_types
from .entrypoints.http import build_router
from .entrypoints.subscribers import register_subscribers
from .service_layer.context import OrderContext
from .settings import OrderSettings


def build(settings: OrderSettings | None = None) -> tuple[Runtime, FastAPI]:
    settings = settings or OrderSettings()
    runtime = build_runtime(settings)
    setup_logging(runtime)

    catalogue = load_catalogue(settings.catalogue_file)
    service_types = load_service_types(settings.service_types_file)
    service_types.check_against(catalogue)
    orders = OrderStore(runtime.db["orders"])
    eligibility = EligibilityStore(
        runtime.db, settings.eligible_list_limit, settings.engineer_cache_size, lambda: runtime.write_policy.single_writer
    )
    ctx = OrderContext(
        settings=settings, orders=orders, eligibility=eligibility, storage=runtime.storage,
        clock=runtime.clock, relay=runtime.relay, service_types=service_types, catalogue=catalogue,
    )
    runtime.relay.register(orders.collection)

    @runtime.on_start
    async def prepare(_runtime: Runtime) -> None:
        await orders.create_indexes()
        await eligibility.merge_engineer_shards()
        await eligibility.merge_outlet_collections()
        await eligibility.split_outlet_documents()
        await eligibility.create_indexes()
        await runtime.storage.ensure_bucket(ctx.evidence_bucket)

    register_subscribers(runtime, ctx)
    app = create_app(
        runtime, title="order-svc",
        description="Orders: service orders, dispatch eligibility, acceptance, paperless job records.",
        routers=[build_router(ctx)],
    )
    return runtime, app
