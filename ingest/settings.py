"""Settings of the ingest section: the embedder and the chunker."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_EMBEDDER = "use-multilingual-v3"
# Bytes in the MB of sizes shown to users.
MB = 2**20


class IngestSettings(BaseModel):
    """How files become embedded chunks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedder: str = Field(
        DEFAULT_EMBEDDER,
        description=(
            f"'{DEFAULT_EMBEDDER}' (multilingual Universal Sentence Encoder, shipped in its package) "
            "or the path of a local sentence-transformers model folder."
        ),
    )
    threads: int = Field(2, ge=1, le=64, description="CPU threads the embedder may use.")
    # The three below were measured with `make eval`; bench/README.md ("Decisions") names the commit.
    chunk_chars: int = Field(
        400, ge=50, le=4000, description="Largest chunk, in display width (a Chinese character counts as two)."
    )
    overlap_sentences: int = Field(1, ge=0, le=5, description="Sentences repeated at the start of the next chunk.")
    embed_title: bool = Field(
        False, description="Embed each chunk with its document's title in front (the stored text stays exact)."
    )
    batch_size: int = Field(64, ge=1, le=4096, description="Chunks embedded per model call.")
    write_batch_chunks: int = Field(
        512, ge=1, le=100_000, description="Chunks embedded and written to the store together."
    )
    max_file_mb: float = Field(
        20.0, gt=0, description="Files larger than this are refused, in MB of 1,048,576 bytes (as the upload widget counts)."
    )

    @property
    def max_file_bytes(self) -> int:
        """The file size limit in bytes; one MB is 2**20 bytes everywhere, as gradio's upload widget shows it."""
        return int(self.max_file_mb * MB)
