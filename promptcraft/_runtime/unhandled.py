"""The one exception that never leaves a renderer (a leaf module: everything the fast path calls
may raise it without importing the rest of the runtime)."""


class Unhandled(Exception):
    """Raised by a renderer's fast path for input it leaves to the reference interpreter: a
    refusal, whose error the reference words and places. Never escapes a renderer."""
