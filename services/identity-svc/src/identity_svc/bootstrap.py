"""Wire identity-svc together: runtime, key store, use cases, HTTP routes and the clean-up job."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bangke_runtime.app import create_app, setup_logging
from bangke_runtime.runtime import Runtime, build_runtime

from .adapters.keys import KeyStore
from .adapters.local_verifier import KeyStoreVerifier
from .adapters.realname import LocalChecksVerifier, RealNameVerifier
from .adapters.repository import Collections
from .domain.errors import TooManyAttempts
from .entrypoints.auth_http import auth_router
from .entrypoints.http import engineers_router, keys_router, organisation_router
from .entrypoints.jobs import clean_up_job
from .service_layer.accounts import ensure_bootstrap_operator
from .service_layer.engineers import Engineers
from .service_layer.organisation import Organisation
from .service_layer.sign_in import Sessions, SignInLimiter
from .service_layer.tokens import RefreshTokens, TokenIssuer
from .settings import IdentitySettings


def key_store(settings: IdentitySettings) -> KeyStore:
    return KeyStore(
        settings.jwt_keys_dir,
        activation_delay_s=settings.jwt_key_activation_delay_s,
        token_ttl_s=settings.access_token_ttl_s,
        reload_s=settings.jwt_keys_reload_s,
    )


def build(
    settings: IdentitySettings | None = None, realname: RealNameVerifier | None = None
) -> tuple[Runtime, FastAPI]:
    settings = settings or IdentitySettings()
    runtime = build_runtime(settings)
    setup_logging(runtime)
    keys = key_store(settings)
    runtime.verifier = KeyStoreVerifier(settings, keys)
    collections = Collections.of(runtime.db)
    runtime.relay.register(collections.accounts)
    runtime.relay.register(collections.providers)
    runtime.relay.register(collections.outlets)

    organisation = Organisation(collections, runtime.relay, runtime.clock)
    engineers = Engineers(collections, organisation, realname or LocalChecksVerifier(), runtime.relay, runtime.clock)
    limiter = SignInLimiter(collections, settings)
    sessions = Sessions(
        collections, TokenIssuer(keys, settings), RefreshTokens(collections, settings, keys.wall_clock),
        limiter, settings, keys.wall_clock,
    )
    runtime.add_job(clean_up_job(collections, limiter))

    @runtime.on_start
    async def prepare(rt: Runtime) -> None:
        await collections.create_indexes()
        keys.ensure_key()
        await ensure_bootstrap_operator(collections, settings, rt.clock.now())

    app = create_app(
        runtime,
        title="identity-svc",
        description="Identity: accounts, real-name authentication, providers, outlets, regions, tokens.",
        routers=[organisation_router(organisation), engineers_router(engineers, collections), keys_router(keys)],
    )
    # Token and JWKS routes live at /auth, outside the /api/identity prefix that create_app adds.
    app.include_router(auth_router(sessions, keys))

    @app.exception_handler(TooManyAttempts)
    async def on_too_many_attempts(_request: Request, exc: TooManyAttempts) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers={"Retry-After": str(exc.retry_after_s)})

    return runtime, app
