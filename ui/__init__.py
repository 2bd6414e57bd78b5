"""The gradio chat: renders answers and their sources; only calls qa."""

from ui.chat import build_ui, render_sources

__all__ = ["build_ui", "render_sources"]
