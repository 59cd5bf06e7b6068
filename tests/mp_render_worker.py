"""Worker for the multiprocessing tests: importable in a spawned child, imports nothing but promptcraft."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import promptcraft


def render_batch(job: Tuple[Any, List[Any], Dict[str, Any]]) -> List[Any]:
    """Render each conversation with the (unpickled) Format; errors are returned as objects, pickled back."""
    fmt, conversations, options = job
    results: List[Any] = []
    for messages in conversations:
        try:
            results.append(fmt.render(messages, **options))
        except promptcraft.PromptcraftError as error:
            results.append(error)
    return results
