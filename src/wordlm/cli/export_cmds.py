"""Commands: (being written)."""

from wordlm.cli import cli  # noqa: F401
