"""The gradio chat: renders answers and their sources; only calls qa."""

from ui.chat import add_uploads, build_ui, launch_chat, render_sources

__all__ = ["add_uploads", "build_ui", "launch_chat", "render_sources"]
