"""Settings of identity-svc, read from BANGKE_* environment variables."""

from pathlib import Path

from pydantic import Field, SecretStr

from bangke_runtime.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    service_name: str = "identity-svc"
    http_port: int = 8101

    jwt_keys_dir: Path = Field(
        Path("var/identity-jwt-keys"),
        description="Folder of the RSA signing keys, one PEM file per key; the first key is generated when it is empty.",
    )
    jwt_key_activation_delay_s: float = Field(
        60.0,
        ge=0,
        description=(
            "Seconds a new key is published in the JWKS before it signs. Verifiers refetch the JWKS at most "
            "every 30 s, so a delay above that lets every replica and verifier learn the key first."
        ),
    )
    jwt_keys_reload_s: float = Field(
        10.0, gt=0, description="Seconds between re-reads of the key folder, so replicas see keys another one added."
    )
    access_token_ttl_s: int = Field(900, gt=0, description="Lifetime of access tokens in seconds.")
    refresh_token_ttl_s: int = Field(30 * 24 * 3600, gt=0, description="Lifetime of refresh tokens in seconds.")

    sign_in_window_s: int = Field(900, gt=0, description="Length in seconds of the window that failed sign-ins count in.")
    sign_in_max_failures_per_mobile: int = Field(5, ge=1, description="Failed sign-ins per mobile number per window.")
    sign_in_max_failures_per_client: int = Field(
        30, ge=1, description="Failed sign-ins per client address per window, across all mobile numbers."
    )

    bootstrap_operator_mobile: str | None = Field(
        None, description="Mobile number of the operator account created at start-up if no account has it."
    )
    bootstrap_operator_password: SecretStr | None = Field(None, description="Password of that operator account.")
    bootstrap_operator_name: str = Field("平台运营", description="Display name of that operator account.")
