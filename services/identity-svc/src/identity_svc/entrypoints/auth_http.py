"""Routes under ``/auth``: tokens, sign-out and the JWKS. The gateway forwards ``/auth/...`` unchanged."""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from bangke_runtime.app import ERROR_RESPONSES

from ..adapters.keys import KeyStore
from ..domain.errors import FieldInvalid
from ..service_layer.sign_in import Sessions
from ..service_layer.tokens import TokenPair
from .schemas import RevokeRequest, TokenRequest, TokenResponse

JWKS_MAX_AGE_S = 60


def _token_response(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
        refresh_expires_in=pair.refresh_expires_in,
        account_id=pair.account["_id"],
        role=pair.account["role"],
    )


def auth_router(sessions: Sessions, keys: KeyStore) -> APIRouter:
    router = APIRouter(prefix="/auth", tags=["auth"], responses={**ERROR_RESPONSES, 429: ERROR_RESPONSES[400]})

    @router.post("/token", summary="Sign in with mobile and password, or renew with a refresh token")
    async def token(body: TokenRequest, request: Request, response: Response) -> TokenResponse:
        response.headers["Cache-Control"] = "no-store"
        if body.grant_type == "refresh_token":
            if not body.refresh_token:
                raise FieldInvalid("请提供刷新令牌（refresh_token）", field="refresh_token")
            return _token_response(await sessions.refresh(body.refresh_token))

        if not body.mobile or not body.password:
            raise FieldInvalid("请填写手机号（mobile）和密码（password）", field="mobile" if not body.mobile else "password")
        client = request.client.host if request.client else "unknown"
        return _token_response(await sessions.sign_in(body.mobile, body.password, client))

    @router.post("/revoke", status_code=204, summary="Sign out: revoke a refresh token and its family")
    async def revoke(body: RevokeRequest) -> Response:
        await sessions.sign_out(body.refresh_token)
        return Response(status_code=204)

    @router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
    async def jwks() -> JSONResponse:
        await keys.refresh()
        body: dict[str, Any] = keys.jwks()
        return JSONResponse(body, headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_S}"})

    return router
