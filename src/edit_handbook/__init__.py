"""edit-handbook: supervise instruction-based image editing (EditCaption + SuperEdit)."""

__version__ = "0.1.0.dev0"
