"""A Hydra or OmegaConf error as one line for the user: every refusal of a config, an
override or a composition says it this way."""

from __future__ import annotations

_NOISE_MARKERS = (" Config search path:", " full_key:", " See https://hydra.cc/")


def one_line(exc: BaseException) -> str:
    """A Hydra/OmegaConf error message folded onto one line, without its boilerplate (an
    override Hydra's grammar cannot read gets a hint instead of the lexer's words)."""
    from hydra.errors import OverrideParseException

    if isinstance(exc, OverrideParseException):
        return (
            f"cannot parse the override {exc.override!r}: quote values with non-ASCII "
            "letters or special characters, e.g. +tag='héllo' (Hydra's override grammar)"
        )
    text = " ".join(str(exc).split())
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {' '.join(str(cause).split())}"
    for marker in _NOISE_MARKERS:
        if marker in text:
            text = text[: text.index(marker)]
    return text.strip() or type(exc).__name__
