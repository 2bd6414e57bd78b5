"""Settings of the store section."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class StoreSettings(BaseModel):
    """Where the vectors live."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(description="Folder of the embedded Chroma database (PersistentClient).")
