"""Settings of the store section: embedded Chroma in a folder, or a Chroma server."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def checked_http_url(url: str | None, what: str, example: str) -> str | None:
    """`url` as it is when absent or an http(s) URL; else a ValueError saying `what` it must be, with an `example`."""
    if url is not None and not url.startswith(("http://", "https://")):
        raise ValueError(f"{what} must be an http:// or https:// URL, e.g. {example}")
    return url


class StoreSettings(BaseModel):
    """Where the vectors live."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["embedded", "server"] = Field(
        "embedded", description="'embedded': Chroma in a local folder; 'server': a `chroma run` server over HTTP."
    )
    path: Path | None = Field(None, description="Folder of the embedded Chroma database (mode 'embedded').")
    url: str | None = Field(None, description="URL of the Chroma server, e.g. http://127.0.0.1:8000 (mode 'server').")
    token: str | None = Field(None, description="Auth token sent to the Chroma server, if it requires one.")
    tenant: str = Field("default_tenant", description="Chroma tenant (server mode).")
    database: str = Field("default_database", description="Chroma database (server mode).")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        return checked_http_url(url, "the Chroma server's address", "http://127.0.0.1:8000")

    @model_validator(mode="after")
    def _where(self) -> StoreSettings:
        if self.mode == "embedded" and self.path is None:
            raise ValueError("store.path is required when store.mode is 'embedded'")
        if self.mode == "server" and not (self.url or "").startswith(("http://", "https://")):
            raise ValueError(f"store.url must be an http:// or https:// URL when store.mode is 'server', not {self.url!r}")
        return self

    @property
    def location(self) -> str:
        """The server URL, or the folder, for messages."""
        return self.url if self.mode == "server" else str(self.path)
