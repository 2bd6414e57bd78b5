"""The user interfaces: the gradio chat (ui.chat) and the command line (ui.cli); both only call qa."""

from ui.chat import add_uploads, build_ui, launch_chat, render_sources

__all__ = ["add_uploads", "build_ui", "launch_chat", "render_sources"]
