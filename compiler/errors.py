"""Error types.

Every failure the compiler can explain is a `CompileError`: the CLI prints its message as
one line and exits non-zero, so messages must name the offending job, key or file.
Anything else escaping the compiler is a bug and keeps its traceback.
"""

from __future__ import annotations


class CompileError(Exception):
    """A problem with the input (workflow, config, options) that the user can fix."""


class LoadError(CompileError):
    """The workflow file cannot be read or is not an acceptable GenericWorkflow pickle."""


class ConfigError(CompileError):
    """A BPS config file or value is missing or malformed."""


class PassError(CompileError):
    """One or more problems found by a compiler pass.

    A pass collects every problem it finds and raises once, so the user sees all of them
    at once; the pipeline runner fills in `pass_name`.
    """

    def __init__(self, problems: list[str] | str, pass_name: str = "") -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.pass_name = pass_name
        super().__init__(self._render())

    def _render(self) -> str:
        head = self.problems[0] if self.problems else "unknown problem"
        more = len(self.problems) - 1
        text = f"{self.pass_name}: {head}" if self.pass_name else head
        if more > 0:
            text += f" (and {more} more problem{'s' if more > 1 else ''})"
        return text

    def with_pass(self, pass_name: str) -> PassError:
        """Return the same error, attributed to the pass that raised it."""
        return PassError(self.problems, pass_name)


def job_problem(job: str, label: str | None, message: str) -> str:
    """Format a per-job problem the same way everywhere: job 'x' (label 'y'): message."""
    where = f"job '{job}'" + (f" (label '{label}')" if label else "")
    return f"{where}: {message}"
