"""Server settings from the environment, a ``.env`` file, a secrets folder and a TOML file.

Precedence (highest first):

1. command-line flags (applied by the ``ringflow`` command, :mod:`ringflow.cli`);
2. environment variables;
3. the ``.env`` file: ``RINGFLOW_ENV_FILE``, else ``.env`` in the working directory when
   there is one (``RINGFLOW_ENV_FILE=`` turns it off);
4. the secrets folder ``RINGFLOW_SECRETS_DIR`` (e.g. ``/run/secrets``, where Docker and
   Kubernetes mount secrets): one file per setting, named like its variable
   (``TWILIO_AUTH_TOKEN``), holding the value (surrounding whitespace ignored);
5. the TOML file named by ``RINGFLOW_CONFIG``;
6. the defaults below.

This is pydantic-settings' own order (init > environment > dotenv > secrets), with the TOML
file, the most general, last. A file or folder named explicitly but missing is an error, not
silently skipped. Bad values fail at start with the variable's name; secrets are ``SecretStr``,
so neither a settings repr nor a validation message shows them.
"""

from __future__ import annotations

import os
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ringflow.client_address import Network

DEFAULT_STOP_REPLY = (
    "You are unsubscribed and will receive no more messages. Reply START to subscribe again."
)
DEFAULT_START_REPLY = "You are subscribed again. Reply STOP to unsubscribe."
DEFAULT_HELP_REPLY = "Ringflow: reply STOP to unsubscribe. Msg&data rates may apply."
DEFAULT_SMS_REPLY_LIMIT = 10
DEFAULT_SMS_REPLY_WINDOW_SECONDS = 600.0
DEFAULT_ENV_FILE = Path(".env")


class SettingsSourceMissing(ValueError):
    """A settings file or folder named in the environment does not exist."""


def env_file() -> Path | None:
    """The ``.env`` file to read: ``RINGFLOW_ENV_FILE`` (which must exist), else ``.env`` in
    the working directory if there is one; None when there is none or it is turned off."""
    named = os.environ.get("RINGFLOW_ENV_FILE")
    if named is None:
        return DEFAULT_ENV_FILE if DEFAULT_ENV_FILE.is_file() else None
    if not named:
        return None
    if not Path(named).is_file():
        raise SettingsSourceMissing(f"RINGFLOW_ENV_FILE: no such file {named!r}")
    return Path(named)


def secrets_dir() -> Path | None:
    """The folder of secret files ``RINGFLOW_SECRETS_DIR`` (which must exist), or None."""
    named = os.environ.get("RINGFLOW_SECRETS_DIR")
    if not named:
        return None
    if not Path(named).is_dir():
        raise SettingsSourceMissing(f"RINGFLOW_SECRETS_DIR: no such folder {named!r}")
    return Path(named)


class Settings(BaseSettings):
    """Everything the server can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="RINGFLOW_", extra="ignore", frozen=True, populate_by_name=True
    )

    data_dir: Path = Field(default=Path("data"), description="where the server keeps its files")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file ringflow.db in the data dir",
    )
    public_url: str | None = Field(
        default=None,
        description="base URL Twilio reaches this server at, e.g. https://ivr.example.com",
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "twilio_auth_token"),
        description="checks X-Twilio-Signature on every webhook when set",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="a first admin API token (more with `ringflow token create NAME`)",
    )
    twilio_account_sid: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TWILIO_ACCOUNT_SID", "twilio_account_sid"),
        description="with TWILIO_AUTH_TOKEN: send texts through Twilio (else: the outbox)",
    )
    twilio_api_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("RINGFLOW_TWILIO_API_URL", "twilio_api_base_url"),
        description="a Twilio-compatible API instead of https://api.twilio.com",
    )
    sms_stop_reply: str = Field(
        default=DEFAULT_STOP_REPLY,
        min_length=1,
        max_length=1600,
        description="the confirmation texted back once to a number that texts STOP",
    )
    sms_start_reply: str = Field(
        default=DEFAULT_START_REPLY,
        min_length=1,
        max_length=1600,
        description="the confirmation texted back to a number that texts START",
    )
    sms_help_reply: str = Field(
        default=DEFAULT_HELP_REPLY,
        min_length=1,
        max_length=1600,
        description="the text sent back to a number that texts HELP",
    )
    sms_reply_limit: int = Field(
        default=DEFAULT_SMS_REPLY_LIMIT,
        ge=1,
        le=10_000,
        description="texts one number may be sent within sms_reply_window_seconds before its"
        " texts are no longer answered automatically",
    )
    sms_reply_window_seconds: float = Field(
        default=DEFAULT_SMS_REPLY_WINDOW_SECONDS,
        gt=0,
        le=86400,
        description="the window of sms_reply_limit, in seconds",
    )
    conversation_reopen_hours: float = Field(
        default=72,
        ge=0,
        le=24 * 365,
        description="a customer's message reopens a conversation closed less than this many"
        " hours ago; later it starts a new conversation",
    )
    chat_secret: SecretStr | None = Field(
        default=None,
        description="signs the web chat's visitor ids; default: a random secret kept in the"
        " database (shared by every instance)",
    )
    chat_identity_secret: SecretStr | None = Field(
        default=None,
        description="the secret a site signs its visitors' identity with (HMAC-SHA256);"
        " unset: identities are ignored",
    )
    chat_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="origins (https://shop.example) whose pages may open chat connections,"
        " comma-separated; empty: any",
    )
    chat_max_message_chars: int = Field(
        default=2000, ge=1, le=20000, description="longest message a chat visitor may send"
    )
    trusted_proxies: Annotated[tuple[Network, ...], NoDecode] = Field(
        default=(),
        description="addresses or networks of reverse proxies whose X-Forwarded-For is believed",
    )
    outbound_allowed_networks: Annotated[tuple[Network, ...], NoDecode] = Field(
        default=(),
        description=(
            "private networks http_request steps and webhook subscriptions may reach anyway"
            " (e.g. 10.0.0.0/8 for an internal CRM); by default only public addresses"
        ),
    )
    http_request_hosts: str | None = Field(
        default=None,
        description=(
            "hosts http_request steps may call, comma-separated (api.crm.example,"
            " *.shop.example); none: http_request steps are refused"
        ),
    )
    webhook_max_attempts: int = Field(
        default=10,
        ge=1,
        le=50,
        description="attempts to deliver one webhook before it is given up (backoff in between)",
    )
    insecure_webhooks: bool = Field(
        default=False,
        description="serve unsigned webhooks (no TWILIO_AUTH_TOKEN) on a non-loopback address",
    )
    webhook_body_seconds: float = Field(
        default=10, gt=0, le=300, description="most seconds a webhook's body may take to arrive"
    )
    sms_allowed_countries: str | None = Field(
        default=None,
        description=(
            "ISO 3166 country codes texts may go to, comma-separated (e.g. US,CA); "
            "default: the country of the number a text is sent from"
        ),
    )
    sms_hourly_cap: int = Field(
        default=1000,
        ge=1,
        le=10_000_000,
        description="most automated texts handed to the provider in any hour (all processes)",
    )
    worker: bool = Field(default=True, description="run the job worker in the server process")
    job_lease_seconds: float = Field(
        default=60, gt=0, le=86400, description="how long a worker holds a claimed job"
    )
    job_retention_days: float = Field(
        default=14,
        gt=0,
        le=3650,
        description=(
            "days a finished (done or cancelled) job, or a settled webhook delivery, is kept"
            " before the worker deletes it"
        ),
    )
    call_status_check_minutes: float = Field(
        default=10,
        gt=0,
        le=1440,
        description=(
            "a Twilio call still without its final status this many minutes after it started"
            " is looked up in Twilio's Calls API (and again as often while it goes on)"
        ),
    )
    worker_concurrency: int = Field(
        default=50,
        ge=1,
        le=500,
        description="jobs a worker runs at once (texts in flight to the provider)",
    )
    prompt_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1, description="largest audio upload accepted, in bytes"
    )
    prompt_min_seconds: float = Field(
        default=0.3, ge=0, description="shortest audio prompt accepted, in seconds"
    )
    prompt_max_seconds: float = Field(
        default=600, gt=0, le=3600, description="longest audio prompt accepted, in seconds"
    )
    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(default=8080, ge=0, le=65535, description="port to listen on")
    flows_dir: Path | None = Field(
        default=None, description="folder of workflow files; default: the demo workflow"
    )
    step_limit: int = Field(default=50, ge=1, le=1000, description="steps one turn may run")
    voice_deadline_seconds: float = Field(
        default=5.0,
        gt=0,
        le=14,
        description=(
            "a voice webhook is answered within this long: the turn's TwiML, else the apology"
            " (Twilio gives up on a webhook after 15 s)"
        ),
    )
    status_deadline_seconds: float = Field(
        default=12.0,
        gt=0,
        le=14,
        description=(
            "a status callback (nobody on the line) is recorded within this long, else it gets"
            " a 503 (Twilio gives up after 15 s; it repeats a 5xx only if its retry policy says"
            " so)"
        ),
    )
    ami_host: str | None = Field(
        default=None,
        description="an Asterisk PBX's AMI host: follow its calls and queues (docs/asterisk.md)",
    )
    ami_port: int = Field(default=5038, ge=1, le=65535, description="the AMI port")
    ami_username: str | None = Field(default=None, description="the AMI user (manager.conf)")
    ami_secret: SecretStr | None = Field(default=None, description="the AMI user's secret")
    ami_ping_seconds: float = Field(
        default=5.0, gt=0, le=300, description="seconds between AMI pings (dead-link detection)"
    )
    ami_contexts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="dialplan contexts inbound PBX calls start in (comma-separated); empty: any",
    )
    ami_default_region: str | None = Field(
        default=None,
        description="country (ISO code) of PBX caller ids without +; default: read as +digits",
    )
    ami_callback_context: str = Field(
        default="ringflow-callbacks",
        min_length=1,
        max_length=80,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description=(
            "the dialplan context callbacks' Originate enters at the customer's number (it"
            " dials them); with AMI settings, callbacks are placed on the PBX"
        ),
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    migrate: bool = Field(default=True, description="upgrade the database schema at start")
    log_format: Literal["text", "json"] = Field(
        default="text", description="text (one line per record) or json (one object per line)"
    )
    access_log: bool = Field(default=False, description="log every HTTP request (masked)")
    metrics_token: SecretStr | None = Field(
        default=None,
        description="bearer token that may read /metrics (an admin API token may too)",
    )
    metrics_listen: str | None = Field(
        default=None,
        description="HOST:PORT of a separate listener serving /metrics without a token",
    )

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("twilio_account_sid")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("ami_host", "ami_username", "ami_default_region")
    @classmethod
    def _ami_text(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("ami_contexts", mode="before")
    @classmethod
    def _ami_contexts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _ami_complete(self) -> Settings:
        if self.ami_host is not None and (self.ami_username is None or self.ami_secret is None):
            raise ValueError(
                "RINGFLOW_AMI_HOST needs RINGFLOW_AMI_USERNAME and RINGFLOW_AMI_SECRET"
            )
        region = self.ami_default_region
        if region is not None and region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"RINGFLOW_AMI_DEFAULT_REGION: unknown country code {region!r}")
        return self

    @field_validator("sms_stop_reply", "sms_start_reply", "sms_help_reply")
    @classmethod
    def _reply(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("sms_allowed_countries")
    @classmethod
    def _countries(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        codes = {code.strip().upper() for code in value.split(",") if code.strip()}
        unknown = sorted(code for code in codes if code not in phonenumbers.SUPPORTED_REGIONS)
        if unknown:
            raise ValueError(
                f"unknown country codes {', '.join(unknown)}: use ISO 3166 codes such as US,CA"
            )
        return ",".join(sorted(codes))

    @field_validator("twilio_api_base_url")
    @classmethod
    def _twilio_api_base_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("chat_origins", mode="before")
    @classmethod
    def _chat_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            for origin in value:
                if not isinstance(origin, str) or not origin.startswith(("http://", "https://")):
                    raise ValueError(f"{origin!r} is not an origin (https://host[:port])")
            return tuple(str(origin).rstrip("/") for origin in value)
        return value

    @field_validator("trusted_proxies", "outbound_allowed_networks", mode="before")
    @classmethod
    def _trusted_proxies(cls, value: object) -> object:
        # The environment gives "10.0.0.1, 192.168.0.0/16"; a TOML file may give a list.
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if not isinstance(value, list | tuple):
            return value
        networks = []
        for item in value:
            try:
                networks.append(ip_network(str(item).strip(), strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return tuple(networks)

    @property
    def http_hosts(self) -> tuple[str, ...]:
        """The hosts ``http_request`` steps may call (none: the step is refused)."""
        raw = self.http_request_hosts or ""
        return tuple(host.strip().lower() for host in raw.split(",") if host.strip())

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @field_validator("metrics_listen")
    @classmethod
    def _metrics_listen(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        host, _, port = value.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9108")
        return value.strip()

    @property
    def metrics_api_token(self) -> str | None:
        """``RINGFLOW_METRICS_TOKEN`` in clear, or None (empty counts as unset)."""
        token = self.metrics_token
        return token.get_secret_value() or None if token is not None else None

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """Where the separate metrics listener listens, or None: ``/metrics`` only on the
        main port, behind a token."""
        if self.metrics_listen is None:
            return None
        host, _, port = self.metrics_listen.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def admin_api_token(self) -> str | None:
        """``RINGFLOW_ADMIN_TOKEN`` in clear, or None (empty counts as unset)."""
        token = self.admin_token
        return token.get_secret_value() or None if token is not None else None

    @property
    def auth_token(self) -> str | None:
        """The Twilio auth token, or None when signatures are not checked."""
        token = self.twilio_auth_token
        return token.get_secret_value() if token and token.get_secret_value() else None

    @property
    def allowed_countries(self) -> frozenset[str] | None:
        """The countries texts may go to, or None: the country of the sending number."""
        value = self.sms_allowed_countries
        return None if value is None else frozenset(value.split(","))

    @property
    def database(self) -> str:
        """The database URL to use (the SQLite default filled in)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ringflow.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        dotenv = env_file()
        if dotenv is not None:
            sources.append(DotEnvSettingsSource(settings_cls, env_file=dotenv))
        secrets = secrets_dir()
        if secrets is not None:
            sources.append(SecretsSettingsSource(settings_cls, secrets_dir=secrets))
        config_file = os.environ.get("RINGFLOW_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with ``overrides`` (flags) on top; None means unset."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})
