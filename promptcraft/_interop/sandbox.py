"""Run an untrusted chat template in a child process, bounded in time, memory and output.

Jinja's sandbox stops attribute access to ``__class__`` and friends, but not a
loop of ten billion steps, a string doubled forty times, or a recursive macro.
So import renders templates in a separate Python process: the child sets an
address-space limit, renders each case under a CPU-time alarm with
``env.environment(max_size=...)``, and answers over a pipe in JSON lines; the
parent kills it when a batch overruns its wall-clock budget. A template is
never rendered in the importing process.

The child is ``python -m promptcraft._interop.sandbox``. One request is one
batch of cases; a case is ``[messages, options]`` and its answer is
``["text", str]`` (option ``_clock``, an ISO date, is the time ``strftime_now``
reads) or ``["raises", kind, message]`` (the template refused the input, as
``apply_chat_template`` would raise). An answer ``["error", kind, message]``
instead of the batch says the template does not compile, exceeded a bound,
or attempted an unsafe access.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, List, Optional, Sequence, Tuple

from ..errors import TemplateImportError

#: Bounds a template runs with: per case (CPU seconds, output characters), and the child's address space.
CASE_SECONDS = 2.0
MAX_OUTPUT = 1 << 20
MEMORY_BYTES = 1 << 30
#: The largest template read: chat templates are a few KiB; a bigger one is refused before it is compiled.
MAX_TEMPLATE = 1 << 20
#: Wall-clock budget per case, for the parent, generous over CASE_SECONDS for a loaded machine.
BATCH_SECONDS_PER_CASE = 4.0
BATCH_SECONDS_MIN = 20.0

Answer = Tuple[Any, ...]


class SandboxedTemplate:
    """A chat template rendered in a bounded child process. Use as a context manager, or ``close()``."""

    def __init__(self, template: str, bos: Optional[str] = None, eos: Optional[str] = None) -> None:
        self._process: Optional[subprocess.Popen[str]] = None
        if not isinstance(template, str):
            raise TemplateImportError("the chat template is not a string")
        if len(template) > MAX_TEMPLATE:
            raise TemplateImportError(f"the chat template has {len(template)} characters, more than the "
                                      f"{MAX_TEMPLATE} an import reads")
        try:
            import jinja2  # noqa: F401  (say which extra is missing before starting a process)
        except ImportError:
            raise TemplateImportError("importing a template needs jinja2: pip install 'promptcraft-chat[jinja]'") \
                from None
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "promptcraft._interop.sandbox"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            encoding="utf-8", env=env, cwd=os.path.dirname(env["PYTHONPATH"]) or None,
        )
        answer = self._exchange({"template": template, "bos": bos, "eos": eos}, BATCH_SECONDS_MIN)
        if answer[0] == "error":
            self.close()
            raise TemplateImportError(f"{answer[1]}: {answer[2]}")

    def render(self, cases: Sequence[Tuple[Any, dict]]) -> List[Answer]:
        """Render each ``(messages, options)``; ``options`` are ``add_generation_prompt``,
        ``continue_final_message`` and the template's variables (``tools``, ``documents``, ...)."""
        if not cases:
            return []
        budget = max(BATCH_SECONDS_MIN, BATCH_SECONDS_PER_CASE * len(cases))
        answers = self._exchange({"cases": [list(case) for case in cases]}, budget)
        if answers and answers[0] == "error":
            self.close()
            raise TemplateImportError(f"{answers[1]}: {answers[2]}")
        return [tuple(answer) for answer in answers]

    def _exchange(self, request: dict, seconds: float) -> Any:
        process = self._process
        if process is None:
            raise TemplateImportError("the template's sandbox is closed")
        assert process.stdin is not None and process.stdout is not None
        line = json.dumps(request, ensure_ascii=True)
        try:
            process.stdin.write(line + "\n")
            process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            raise TemplateImportError("the template's sandbox stopped (a memory or time limit)") from None
        reply = _readline(process, seconds)
        if reply is None:
            self.close()
            raise TemplateImportError(f"the template ran past its time budget ({seconds:.0f} s for the batch)")
        if not reply:
            self.close()
            raise TemplateImportError("the template's sandbox stopped (a memory or time limit)")
        return json.loads(reply)

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()

    def __enter__(self) -> "SandboxedTemplate":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _readline(process: "subprocess.Popen[str]", seconds: float) -> Optional[str]:
    """The child's next line, or None when it does not come within ``seconds`` (the child is then killed).
    A thread waits for it: portable where ``select`` does not take pipes (Windows)."""
    import threading

    assert process.stdout is not None
    stdout = process.stdout
    got: List[str] = []
    reader = threading.Thread(target=lambda: got.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(seconds)
    if reader.is_alive():
        process.kill()
        reader.join()
        return None
    return got[0] if got else ""


# ---------------------------------------------------------------------------------------------- the child


def _limit_memory() -> None:
    try:
        import resource
    except ImportError:  # not on this platform: the parent's wall clock still bounds the child
        return
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def _serve() -> None:  # pragma: no cover - runs in the child process; tests drive it through the parent
    import datetime
    import signal

    import jinja2
    from jinja2.sandbox import SecurityError

    from .._runtime.continuation import continue_final
    from .env import PINNED_NOW, LimitExceeded, renderer

    class Overtime(Exception):
        pass

    def alarm(*_: Any) -> None:
        raise Overtime()

    timer = getattr(signal, "ITIMER_PROF", None)
    if timer is not None:
        signal.signal(signal.SIGPROF, alarm)
    _limit_memory()
    out = sys.stdout
    setup = json.loads(sys.stdin.readline())
    try:
        clock = [PINNED_NOW]  # a case may move it (``_clock``): a template that writes today's date shows it
        render = renderer(setup["template"], setup.get("bos"), setup.get("eos"), max_size=MAX_OUTPUT,
                          now=lambda: clock[0])
    except jinja2.TemplateSyntaxError as error:
        out.write(json.dumps(["error", "the template does not compile", f"line {error.lineno}: {error.message}"])
                  + "\n")
        out.flush()
        return
    except (MemoryError, RecursionError, LimitExceeded) as error:
        out.write(json.dumps(["error", "the template does not compile", type(error).__name__]) + "\n")
        out.flush()
        return
    out.write(json.dumps(["ready"]) + "\n")
    out.flush()

    def one(messages: Any, options: dict) -> List[Any]:
        options = dict(options)
        clock[0] = datetime.datetime.fromisoformat(options.pop("_clock", PINNED_NOW.isoformat()))
        generation = bool(options.pop("add_generation_prompt", False))
        field = options.pop("continue_final_message", False)
        if field:
            return ["text", continue_final(lambda m, add_generation_prompt=False, **kw: render(m, False, **kw),
                                           messages, options, field=field)]
        return ["text", render(messages, generation, **options)]

    for line in sys.stdin:
        request = json.loads(line)
        answers: List[Any] = []
        for messages, options in request["cases"]:
            if timer is not None:  # CPU time: a loaded machine is not the template's fault
                signal.setitimer(timer, CASE_SECONDS)
            try:
                answers.append(one(messages, options))
            except SecurityError as error:
                answers = ["error", "the template attempted an unsafe operation", str(error)[:300]]
                break
            except Overtime:  # a bound hit once ends the batch: the template is not importable
                answers = ["error", "the template exceeds a bound", f"a render ran past {CASE_SECONDS:g} s of CPU time"]
                break
            except LimitExceeded as error:
                answers = ["error", "the template exceeds a bound", str(error)]
                break
            except MemoryError:
                answers = ["error", "the template exceeds a bound", "a render ran out of memory"]
                break
            except RecursionError:
                answers.append(["raises", "RecursionError", "maximum recursion depth exceeded"])
            except Exception as error:  # the template refused this input, as apply_chat_template would raise
                answers.append(["raises", type(error).__name__, str(error)[:2000]])
            finally:
                if timer is not None:
                    signal.setitimer(timer, 0)
        out.write(json.dumps(answers, ensure_ascii=True) + "\n")
        out.flush()


if __name__ == "__main__":  # pragma: no cover
    _serve()
