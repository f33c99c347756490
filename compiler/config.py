"""Read BPS submit YAML without the LSST stack, answering lookups exactly as BpsConfig does.

panda-compile has to run where ``lsst.ctrl.bps`` is not installed, yet every value it uses
must be the one the reference PanDA plugin would get from ``BpsConfig``.  This module
re-implements the part of ``BpsConfig`` the plugin relies on; the tests compare the two on
the same files.

Keys the PanDA plugin reads (``PANDA_KEYS``), with the options it passes:

* per label, ``curvals={"curr_cluster": label}`` then also ``curr_site`` / ``curr_pipetask``:
  ``computeSite`` (``required``), ``processingType``, ``taskType``, ``prodSourceLabel``,
  ``vo``, ``fileDistributionEndPoint``, ``fileDistributionEndPointDefault``;
* once per workflow: ``enableEventService``, ``enableQnodeMap``, ``enableJobNameMap``,
  ``maxPayloadsPerPandaJob``, ``maxWmsJobWalltime``, ``maxJobsPerTask``,
  ``orderIdMapFilename``, ``maxRequestLength``, ``maxCopyWorkers``, ``iddsServer``,
  ``submitPath``, ``fileDistributionEndPoint[Default]`` (via ``[]``), ``bps_defined``;
* ``runnerCommand`` with ``replaceEnvVars: False, expandEnvVars: False``;
* ``placeholderParams`` and ``submitSideResolvedParams`` via ``get`` (lists);
* the ``finalJob`` / ``customJob`` sections, then ``section["processingType"]``;
* remote builds: ``computeCloud``, ``computeSite``, ``LSST_VERSION``, ``custom_lsst_setup``,
  ``files``.

Search rules (what ``BpsConfig.search`` does, and so what we do):

1. ``curvals`` = the root ``current`` section overlaid with ``opt["curvals"]``; a key found
   there wins.  Then ``opt["searchobj"]``.
2. The sections of ``SEARCH_ORDER`` in turn; for section ``s`` whose ``curr_s`` curval names
   an existing subsection, that subsection is searched *instead of* ``s`` (if it does not
   exist, ``s`` itself is searched).  Then the root.  Nothing else (``finalJob`` ...) is
   searched implicitly.
3. Not found: ``opt["default"]`` if given (then counted as found), else ``ConfigError`` if
   ``required``, else ``(False, "")``.
4. String values (including a string default): ``<ENV:X>`` and ``$X``/``${X}`` are expanded
   from ``os.environ`` unless ``expandEnvVars`` is false (unset variables stay as written);
   else with ``replaceEnvVars`` they are rewritten to ``<ENV:X>``.  Then every ``{name}`` is
   replaced by ``search(name)`` with the same options minus ``default``: recursively, with
   ``str()`` of non-strings and ``""`` for unknown names.  ``${X}`` is left alone, ``{{`` is a
   literal brace, format specs such as ``{x:>4}`` work.  ``bpsEval(f, args)`` is evaluated
   only where the user opted in (see "Hardening" below); otherwise it is an error.
5. A mapping comes back as a config with no search sections (its own ``[]`` searches only
   inside it); ``[]`` never raises (missing gives ``""``) and ``get`` defaults to ``""``.

Keys whose first character is not alphanumeric are paths: ``".bps_defined.submitPath"``.

Hardening (where we deliberately differ from BpsConfig, see ``compiler.limits``):

* ``bpsEval`` runs code, so it is refused unless the config was loaded with
  ``allow_bps_eval=True`` (the CLI's ``--allow-bps-eval``) or the user's own config file
  sets ``pandaCompileAllowBpsEval: true`` (a config found in a submit folder is not the
  user's own: `load_config(..., own=False)` ignores the key there).
* Values that come from a workflow (job labels as ``curr_pipetask`` ...) are passed as
  `LiteralText` curvals: substituted as they are, never expanded, never evaluated, even
  where ``bpsEval`` is allowed.
* One lookup makes at most `MAX_CONFIG_EXPANSIONS` substitutions and produces at most
  `MAX_EXPANDED_CHARS` characters; format widths are bounded (`check_format_spec`).
* Files: only regular files of at most `MAX_CONFIG_BYTES` are read, includes nest at most
  `MAX_INCLUDE_DEPTH` deep and `MAX_CONFIG_FILES` reads in all, and a file's values with
  YAML aliases expanded number at most `MAX_CONFIG_NODES`, nested at most
  `MAX_CONFIG_DEPTH` deep (a billion-laughs file is refused while still 3 KB).
"""

from __future__ import annotations

import copy
import functools
import importlib
import itertools
import json
import os
import pprint
import re
import stat
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from compiler.boundedfmt import FormatLimitError, check_format_spec
from compiler.errors import ConfigError
from compiler.limits import (
    BPS_EVAL_CONFIG_KEY,
    MAX_CONFIG_BYTES,
    MAX_CONFIG_DEPTH,
    MAX_CONFIG_EXPANSIONS,
    MAX_CONFIG_FILES,
    MAX_CONFIG_NODES,
    MAX_EXPANDED_CHARS,
    MAX_INCLUDE_DEPTH,
    over_limit,
)

if TYPE_CHECKING:
    from lsst.resources import ResourcePath

__all__ = [
    "PANDA_KEYS",
    "SEARCH_ORDER",
    "BpsYamlConfig",
    "LiteralText",
    "as_config",
    "bundled_defaults",
    "load_config",
]

SEARCH_ORDER: tuple[str, ...] = (
    "bps_cmdline",
    "payload",
    "cluster",
    "pipetask",
    "site",
    "cloud",
    "bps_defined",
)
"""Sections a BPS config searches, first match wins (same order as ``BPS_SEARCH_ORDER``)."""

PANDA_KEYS: tuple[str, ...] = (
    "computeSite",
    "computeCloud",
    "processingType",
    "taskType",
    "prodSourceLabel",
    "vo",
    "fileDistributionEndPoint",
    "fileDistributionEndPointDefault",
    "runnerCommand",
    "placeholderParams",
    "submitSideResolvedParams",
    "maxJobsPerTask",
    "enableEventService",
    "enableQnodeMap",
    "enableJobNameMap",
    "maxPayloadsPerPandaJob",
    "maxWmsJobWalltime",
    "orderIdMapFilename",
    "submitPath",
    "maxRequestLength",
    "maxCopyWorkers",
    "iddsServer",
    "finalJob",
    "customJob",
    "bps_defined",
    "LSST_VERSION",
    "custom_lsst_setup",
    "files",
    "priority",
    "wmsServiceClass",
)
"""Config keys the reference PanDA plugin looks up (see the module docstring)."""

INCLUDE_KEY = "includeConfigs"
_BUNDLED_NAME = "bps_panda.yaml"
PLUGIN_DEFAULT_FILES = (_BUNDLED_NAME, "generic_site.yaml")
BUNDLED_DEFAULT_FILES = ("bps_defaults.yaml", *PLUGIN_DEFAULT_FILES)
_PANDA_DIR_VAR = "CTRL_BPS_PANDA_DIR"
_NO_DEFAULT: Any = object()
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_ENV_TOKEN = re.compile(r"<ENV:([^>]+)>")
_BRACED_ENV = re.compile(r"\$\{([^}]+)\}")
_BARE_ENV = re.compile(r"\$(\S+)")
_KEPT_ENV = re.compile(r"<PCKEEP:([^>]+)>")
_SKIPPED = re.compile(r"<PCSKIP:([^>]+)>")
_BPS_EVAL = re.compile(r"bpsEval\(([^,)]+), ([^)]+)\)")
_LITERAL_TOKEN = re.compile("\ue000([0-9]+)\ue001")
_YamlBase: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LiteralText(str):
    """A curval that comes from the workflow (a job label): substituted, never expanded.

    Why: a label is data from a pickle.  Expanded like config text, a label
    ``bpsEval(os.system, "...")`` would run as soon as a config value uses
    ``{curr_pipetask}``.
    """

    __slots__ = ()


# ---------------------------------------------------------------------------------------
# Key lookup with daf_butler Config semantics
# ---------------------------------------------------------------------------------------


def _split_key(key: str) -> list[str]:
    """Split a path key: its first character is the delimiter, and ``\\<delim>`` escapes it."""
    delim, rest = key[0], key[1:]
    escaped = "\\" + delim
    if escaped not in rest:
        return rest.split(delim)
    return [part.replace("\r", delim) for part in rest.replace(escaped, "\r").split(delim)]


def _lookup(node: Any, key: Any) -> tuple[bool, Any]:
    """Find ``key`` in a mapping the way ``Config.__contains__``/``__getitem__`` do.

    A key present verbatim wins; otherwise a string starting with a non-alphanumeric
    character is a delimited path (``".a.b"``), and a tuple is a path already split.
    Paths may index into lists with integers.
    """
    if node is None or not isinstance(node, Mapping):
        return False, None
    if isinstance(key, str):
        if key in node:
            return True, node[key]
        if not key or key[0].isalnum():
            return False, None
        parts: Sequence[Any] = _split_key(key)
    elif isinstance(key, tuple):
        if key in node:
            return True, node[key]
        parts = key
    else:
        return False, None
    current: Any = node
    for depth, part in enumerate(parts):
        if isinstance(current, Mapping):
            if part not in current:
                return False, None
            current = current[part]
        elif depth and isinstance(current, list | tuple):
            try:
                current = current[int(part)]
            except (ValueError, IndexError, TypeError):
                return False, None
        else:
            return False, None
    return True, current


def _plain(obj: Any) -> Any:
    """Copy nested mappings and lists into plain dicts/lists (configs included, unformatted)."""
    if isinstance(obj, BpsYamlConfig):
        return _plain(obj._data)
    if hasattr(obj, "toDict") and not isinstance(obj, dict):
        return _plain(obj.toDict())
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def _merge_into(target: dict[Any, Any], source: Mapping[Any, Any]) -> dict[Any, Any]:
    """Overlay ``source`` on ``target`` like ``Config.update``: mappings merge, the rest replace."""
    for key, value in source.items():
        if isinstance(value, Mapping):
            base = target.get(key)
            target[key] = _merge_into(base if isinstance(base, dict) else {}, value)
        else:
            target[key] = value
    return target


# ---------------------------------------------------------------------------------------
# Search options
# ---------------------------------------------------------------------------------------


class _Budget:
    """What one top-level lookup has spent (shared by its nested lookups), and its literals."""

    __slots__ = ("chars", "expansions", "literals")

    def __init__(self) -> None:
        self.expansions = 0
        self.chars = 0
        self.literals: list[str] = []


@dataclass(frozen=True, slots=True)
class _Options:
    """A ``search`` opt dict, parsed once and shared by the nested ``{var}`` lookups."""

    curvals: Mapping[Any, Any]
    searchobj: Mapping[Any, Any] | None
    default: Any
    required: bool
    expand_env: bool
    replace_env: bool
    replace_vars: bool
    skip_names: tuple[str, ...]
    budget: _Budget


def _searchobj_mapping(obj: Any) -> Mapping[Any, Any] | None:
    """Turn a ``searchobj`` (dict, our config or a daf_butler Config) into a raw mapping."""
    if obj is None:
        return None
    if isinstance(obj, BpsYamlConfig):
        return obj._data
    if hasattr(obj, "toDict"):
        return obj.toDict()
    if isinstance(obj, Mapping):
        return obj
    raise ConfigError(f"searchobj must be a mapping, not {type(obj).__name__}")


class _VarFormatter(string.Formatter):
    """``str.format`` machinery whose fields are config searches rather than arguments.

    Using ``string.Formatter`` keeps ``{{``, conversions and format specs behaving as they
    do in BPS, which formats the same way.  One per substitution: it carries the budget.
    """

    def __init__(self, budget: _Budget) -> None:
        self._budget = budget

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, str]:
        config, opts, stack = args
        return config._resolve_var(field_name, opts, stack), field_name

    def format_field(self, value: Any, format_spec: str) -> Any:
        """Format within the limits; a workflow value is held back as a token (see `LiteralText`)."""
        check_format_spec(format_spec)
        budget: _Budget = self._budget
        if type(value) is LiteralText and not format_spec:
            budget.literals.append(str(value))
            budget.chars += len(value)
            text = f"\ue000{len(budget.literals) - 1}\ue001"
        else:
            text = super().format_field(value, format_spec)
            budget.chars += len(text)
        if budget.chars > MAX_EXPANDED_CHARS:
            raise FormatLimitError(over_limit("expanded text", MAX_EXPANDED_CHARS, "MAX_EXPANDED_CHARS"))
        return text


def _bps_eval(func: str, args: str) -> Any:
    """Evaluate ``bpsEval(func, args)``: ``func`` is a builtin or a dotted importable name."""
    namespace: dict[str, Any] = {}
    if "." in func:
        module_name, _, attr = func.rpartition(".")
        namespace["_bps_func"] = getattr(importlib.import_module(module_name), attr)
        func = "_bps_func"
    return eval(f"{func}({args})", namespace)


# ---------------------------------------------------------------------------------------
# The config object
# ---------------------------------------------------------------------------------------


class BpsYamlConfig:
    """A BPS config read from YAML, searched with the rules of ``BpsConfig.search``.

    Parameters
    ----------
    data
        The configuration tree (copied).  ``includeConfigs`` in it is *not* processed,
        as with ``BpsConfig(dict)``; use `load_config` for files.
    paths
        Files the tree was read from, the main file first; used in error messages.
    search_order
        Sections searched before the root; ``None`` means `SEARCH_ORDER`.
    """

    __slots__ = ("_allow_eval", "_data", "_paths", "_search_order")

    def __init__(
        self,
        data: Mapping[Any, Any] | None = None,
        *,
        paths: Sequence[str] = (),
        search_order: Sequence[str] | None = None,
        allow_bps_eval: bool | None = None,
    ) -> None:
        tree = _plain(data) if data is not None else {}
        if not isinstance(tree, dict):
            raise ConfigError(f"a BPS config must be a mapping, not {type(data).__name__}")
        files = (paths,) if isinstance(paths, str) else tuple(paths)
        self._setup(tree, files, SEARCH_ORDER if search_order is None else tuple(search_order))
        self._allow_eval = _eval_allowed(tree, allow_bps_eval, own=True)

    def _setup(self, data: dict[Any, Any], paths: tuple[str, ...], search_order: tuple[str, ...]) -> None:
        """Adopt ``data`` without copying; make sure every search section exists, as BPS does."""
        self._data = data
        self._paths = paths
        self._search_order = search_order
        self._allow_eval = False
        for section in search_order:
            value = data.setdefault(section, {})
            if value is not None and not isinstance(value, Mapping):
                raise ConfigError(
                    f"{self._where}: section '{section}' must be a mapping, not {type(value).__name__}"
                )

    @classmethod
    def _adopt(
        cls,
        data: dict[Any, Any],
        paths: tuple[str, ...],
        search_order: tuple[str, ...],
        allow_eval: bool = False,
    ) -> BpsYamlConfig:
        """Wrap a tree this module built (or a subsection of one) without copying it."""
        obj = cls.__new__(cls)
        obj._setup(data, paths, search_order)
        obj._allow_eval = allow_eval
        return obj

    @property
    def allows_bps_eval(self) -> bool:
        """Whether values may use ``bpsEval`` (the user opted in; see the module docstring)."""
        return self._allow_eval

    # -- public API ----------------------------------------------------------------------

    @property
    def paths(self) -> tuple[str, ...]:
        """Every file read to build this config, the main file first (empty if none)."""
        return self._paths

    @property
    def path(self) -> str | None:
        """The main file this config was read from, if any."""
        return self._paths[0] if self._paths else None

    @property
    def search_order(self) -> tuple[str, ...]:
        """Sections searched before the root."""
        return self._search_order

    def search(self, key: str, opt: Mapping[str, Any] | None = None) -> tuple[bool, Any]:
        """Look ``key`` up like ``BpsConfig.search``; returns ``(found, value)``.

        ``opt`` keys: ``curvals``, ``searchobj``, ``default``, ``required``,
        ``expandEnvVars`` (default True), ``replaceEnvVars``, ``replaceVars`` (default True),
        ``skipNames``.
        """
        return self._top_search(key, self._parse_opt(opt or {}))

    def __getitem__(self, key: str) -> Any:
        """Searched value, or ``""`` when missing (BPS never raises here)."""
        return self._top_search(key, self._parse_opt({}))[1]

    def get(self, key: str, default: Any = "") -> Any:
        """Searched value or ``default``; the default default is ``""`` as in ``BpsConfig.get``."""
        return self._top_search(key, self._parse_opt({"default": default}))[1]

    def __contains__(self, key: object) -> bool:
        """Whether a search for ``key`` would find it (without expanding its value)."""
        if not isinstance(key, str | tuple):
            return False
        return self._find(key, self._parse_opt({}))[0]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def to_dict(self) -> dict[Any, Any]:
        """A deep copy of the raw tree (nothing expanded)."""
        return copy.deepcopy(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BpsYamlConfig):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == _plain(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"BpsYamlConfig({self._data!r})"

    def __str__(self) -> str:
        # A section substituted into a string renders like a daf_butler Config does.
        return pprint.pformat(self._data, indent=2, width=1)

    # -- search internals ----------------------------------------------------------------

    @property
    def _where(self) -> str:
        return self._paths[0] if self._paths else "<BPS config>"

    def _parse_opt(self, opt: Mapping[str, Any]) -> _Options:
        current = self._data.get("current")
        curvals = dict(current) if isinstance(current, Mapping) else {}
        curvals.update(opt.get("curvals") or {})
        return _Options(
            curvals=curvals,
            searchobj=_searchobj_mapping(opt.get("searchobj")),
            default=opt.get("default", _NO_DEFAULT),
            required=bool(opt.get("required", False)),
            expand_env=bool(opt.get("expandEnvVars", True)),
            replace_env=bool(opt.get("replaceEnvVars", False)),
            replace_vars=bool(opt.get("replaceVars", True)),
            skip_names=tuple(opt.get("skipNames", ())),
            budget=_Budget(),
        )

    def _top_search(self, key: Any, opts: _Options) -> tuple[bool, Any]:
        """A public lookup: `_search`, then the workflow values held back put in as they are."""
        found, value = self._search(key, opts, ())
        literals = opts.budget.literals
        if literals and isinstance(value, str):
            value = _LITERAL_TOKEN.sub(lambda m: literals[int(m.group(1))], value)
        return found, value

    def _find(self, key: Any, opts: _Options) -> tuple[bool, Any]:
        """Locate the raw value: curvals, searchobj, the search sections, then the root."""
        found, value = _lookup(opts.curvals, key)
        if found:
            return found, value
        if opts.searchobj is not None:
            found, value = _lookup(opts.searchobj, key)
            if found:
                return found, value
        for section in self._search_order:
            found, node = self._section_node(section, opts)
            if found:
                found, value = _lookup(node, key)
                if found:
                    return found, value
        return _lookup(self._data, key)

    def _section_node(self, section: str, opts: _Options) -> tuple[bool, Any]:
        """The part of ``section`` to search: its ``curr_<section>`` subsection if that exists."""
        found, node = _lookup(self._data, section)
        if not found:
            return False, None
        has_current, current = _lookup(opts.curvals, "curr_" + section)
        if not has_current:
            return True, node
        found, sub = _lookup(node, current)
        if not found:
            return True, node  # BPS then searches the whole section, not nothing
        if sub is not None and not isinstance(sub, Mapping):
            kind = type(sub).__name__
            raise ConfigError(f"{self._where}: '{section}.{current}' must be a mapping, not {kind}")
        return True, sub

    def _search(self, key: Any, opts: _Options, stack: tuple[str, ...]) -> tuple[bool, Any]:
        found, value = self._find(key, opts)
        if found:
            inner_stack = (*stack, str(key))
        elif opts.default is not _NO_DEFAULT:
            value, inner_stack = opts.default, stack
        elif opts.required:
            chain = f" (needed by '{stack[0]}')" if stack else ""
            raise ConfigError(f"{self._where}: required key '{key}' not found{chain}")
        else:
            return False, ""
        if type(value) is LiteralText:
            return True, value
        if isinstance(value, str):
            return True, self._expand(value, opts, inner_stack)
        if found and isinstance(value, Mapping):
            return True, BpsYamlConfig._adopt(value, self._paths, (), self._allow_eval)  # type: ignore[arg-type]
        if found and isinstance(value, list):
            return True, copy.deepcopy(value)  # callers may append; keep our tree intact
        return True, value

    def _expand(self, value: str, opts: _Options, stack: tuple[str, ...]) -> str:
        """Apply the environment-variable options, then ``{var}`` substitution."""
        if opts.expand_env:
            value = os.path.expandvars(_ENV_TOKEN.sub(r"$\1", value))
        elif opts.replace_env:
            value = _BRACED_ENV.sub(r"<ENV:\1>", value)
            value = _BARE_ENV.sub(r"<ENV:\1>", value)
        if opts.replace_vars:
            value = self._replace_vars(value, opts, stack)
        return value

    def _replace_vars(self, value: str, opts: _Options, stack: tuple[str, ...]) -> str:
        """Substitute ``{name}`` fields by searching for ``name`` with the same options."""
        where = f"{self._where}: key '{stack[-1]}'" if stack else self._where
        nested = replace(opts, default=_NO_DEFAULT)
        # ${X} is for the shell and skipNames are to stay as written: hide both from format().
        text = _BRACED_ENV.sub(r"<PCKEEP:\1>", value)
        for name in nested.skip_names:
            text = text.replace(f"{{{name}}}", f"<PCSKIP:{name}>")
        try:
            text = _VarFormatter(nested.budget).vformat(text, (self, nested, stack), {})
        except FormatLimitError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: cannot substitute variables in {value[:200]!r}: {exc}") from None
        text = _KEPT_ENV.sub(r"${\1}", text)
        text = _SKIPPED.sub(r"{\1}", text)
        if "bpsEval" not in text:
            return text
        if not self._allow_eval:
            raise ConfigError(
                f"{where}: bpsEval(...) runs code and is refused; to allow it pass --allow-bps-eval "
                f"or set {BPS_EVAL_CONFIG_KEY}: true in your own --config file"
            )
        try:
            text = _BPS_EVAL.sub(lambda m: str(_bps_eval(m.group(1), m.group(2))), text)
        except Exception as exc:
            raise ConfigError(f"{where}: bpsEval failed in {text!r}: {exc}") from None
        if "bpsEval" in text:
            raise ConfigError(f"{where}: unparsable bpsEval in {text!r}")
        return text

    def _resolve_var(self, name: str, opts: _Options, stack: tuple[str, ...]) -> Any:
        """Value for one ``{name}`` field; a name already being expanded is a cycle."""
        if name in stack:
            chain = " -> ".join((*stack[stack.index(name) :], name))
            raise ConfigError(f"{self._where}: variable cycle {chain}")
        opts.budget.expansions += 1
        if opts.budget.expansions > MAX_CONFIG_EXPANSIONS:
            first = f"key '{stack[0]}'" if stack else "a lookup"
            what = f"{{var}} substitutions for {first}"
            raise ConfigError(
                f"{self._where}: " + over_limit(what, MAX_CONFIG_EXPANSIONS, "MAX_CONFIG_EXPANSIONS")
            )
        return self._search(name, opts, stack)[1]


# ---------------------------------------------------------------------------------------
# Loading files
# ---------------------------------------------------------------------------------------

_Location = Any  # a pathlib.Path, an importlib Traversable or an lsst.resources.ResourcePath


def _is_uri(location: _Location) -> bool:
    return hasattr(location, "geturl")


def is_config_location(obj: Any) -> bool:
    """Whether ``obj`` names a config file (path, URI string or ResourcePath) to be read."""
    return isinstance(obj, str | os.PathLike) or _is_uri(obj)


def _to_location(path: Any) -> _Location:
    """Local paths stay ``pathlib`` (no lsst.resources import); URIs become ResourcePath."""
    if _is_uri(path):
        return path
    text = os.fspath(path)
    if _URI.match(text):
        from lsst.resources import ResourcePath

        uri = ResourcePath(text, forceDirectory=False)
        return Path(uri.ospath) if uri.scheme == "file" else uri
    return Path(os.path.abspath(os.path.expanduser(text)))


def _display(location: _Location) -> str:
    return location.geturl() if _is_uri(location) else str(location)


def _read_bytes(location: _Location) -> bytes:
    """A config file's bytes: regular files only (no FIFO, device, /dev/zero), size bounded."""
    try:
        if _is_uri(location):
            return _read_uri(location)
        if isinstance(location, Path):
            return _read_regular_file(location)
        return location.read_bytes()  # the bundled defaults (an importlib resource)
    except FileNotFoundError:
        raise ConfigError(f"{_display(location)}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{_display(location)}: cannot read config file: {exc}") from None


def _too_big(location: _Location, size: int | None = None) -> ConfigError:
    what = "config file size in bytes"
    return ConfigError(
        f"{_display(location)}: " + over_limit(what, MAX_CONFIG_BYTES, "MAX_CONFIG_BYTES", size=size)
    )


def _read_regular_file(path: Path) -> bytes:
    """Read a local file that is a regular file (checked on the open descriptor: no race)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                f"{path}: not a regular file (a FIFO, device or folder is not read as a config)"
            )
        if info.st_size > MAX_CONFIG_BYTES:
            raise _too_big(path, info.st_size)
        data = handle.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise _too_big(path)
    return data


def _read_uri(location: Any) -> bytes:
    """Read a remote config, refusing one the store says is too big."""
    try:
        size = location.size()
    except Exception:  # not every store knows sizes; the read below is bounded anyway
        size = None
    if size is not None and size > MAX_CONFIG_BYTES:
        raise _too_big(location, size)
    data = location.read(size=MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise _too_big(location)
    return data


def _check_tree(data: Any, name: str) -> None:
    """Refuse a parsed file whose values, aliases expanded, pass the node or depth limits.

    Sizes are computed bottom-up once per distinct container (memoised by identity), so
    a billion-laughs file costs as little as its few shared lists; a container reachable
    from itself (a recursive alias) is refused too.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any, depth: int) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        known = sizes.get(key)
        if known is not None:
            return known
        if key in active:
            raise ConfigError(f"{name}: a YAML alias refers to a value that contains it")
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{name}: " + over_limit("nesting depth", MAX_CONFIG_DEPTH, "MAX_CONFIG_DEPTH"))
        active.add(key)
        items = itertools.chain(node.keys(), node.values()) if isinstance(node, dict) else node
        total = 1
        for item in items:
            total += size(item, depth + 1)
            if total > MAX_CONFIG_NODES:
                what = "number of values with YAML aliases expanded"
                raise ConfigError(f"{name}: " + over_limit(what, MAX_CONFIG_NODES, "MAX_CONFIG_NODES"))
        active.discard(key)
        sizes[key] = total
        return total

    size(data, 0)


def _exists(location: _Location) -> bool:
    try:
        return bool(location.exists())
    except OSError:
        return False


def _bundled_location() -> _Location:
    return resources.files("compiler.data").joinpath(_BUNDLED_NAME)


def _include_loader_class() -> type:
    """A YAML loader class understanding ``!include`` (the tag daf_butler Configs accept)."""

    class _Loader(_YamlBase):  # type: ignore[misc, valid-type]
        reader: _Reader
        origin: _Location

    def construct_include(loader: _Loader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return loader.reader.include_tag(loader.construct_scalar(node), loader.origin)
        if isinstance(node, yaml.SequenceNode):
            return [loader.reader.include_tag(n, loader.origin) for n in loader.construct_sequence(node)]
        if isinstance(node, yaml.MappingNode):
            return {
                k: loader.reader.include_tag(v, loader.origin)
                for k, v in loader.construct_mapping(node).items()
            }
        raise ConfigError(f"{_display(loader.origin)}: unsupported !include node")

    _Loader.add_constructor("!include", construct_include)
    return _Loader


_IncludeLoader = _include_loader_class()


class _Reader:
    """One ``load_config`` call: reads files, follows includes, spots cycles."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self._stack: list[str] = []
        self._reads = 0

    def _enter(self, location: _Location) -> str:
        name = _display(location)
        if name in self._stack:
            chain = " -> ".join([*self._stack[self._stack.index(name) :], name])
            raise ConfigError(f"{name}: include cycle {chain}")
        if len(self._stack) >= MAX_INCLUDE_DEPTH:
            raise ConfigError(
                f"{name}: " + over_limit("include depth", MAX_INCLUDE_DEPTH, "MAX_INCLUDE_DEPTH")
            )
        if name not in self.files:
            self.files.append(name)
        self._stack.append(name)
        return name

    def parse(self, location: _Location, *, any_suffix: bool = False) -> Any:
        """Parse one file (YAML with ``!include``, or JSON) without processing includeConfigs.

        ``includeConfigs`` files must end in .yaml or .json; ``!include`` reads anything as YAML.
        """
        name = self._enter(location)
        try:
            suffix = "" if any_suffix else _display(location).rsplit("/", 1)[-1]
            if not any_suffix and not suffix.endswith((".yaml", ".json")):
                if not _exists(location):
                    raise ConfigError(f"{name}: config file not found")
                raise ConfigError(f"{name}: config files must end in .yaml or .json")
            self._reads += 1
            if self._reads > MAX_CONFIG_FILES:
                raise ConfigError(
                    f"{name}: " + over_limit("config files read", MAX_CONFIG_FILES, "MAX_CONFIG_FILES")
                )
            raw = _read_bytes(location)
            if suffix.endswith(".json"):
                try:
                    data = json.loads(raw)
                except RecursionError:
                    raise ConfigError(f"{name}: JSON nested too deeply") from None
                except ValueError as exc:
                    raise ConfigError(f"{name}: JSON syntax error: {exc}") from None
                _check_tree(data, name)
                return data
            loader = _IncludeLoader(raw)
            loader.reader, loader.origin = self, location
            try:
                data = loader.get_single_data()
                _check_tree(data, name)
                return data
            except RecursionError:
                raise ConfigError(f"{name}: YAML nested too deeply") from None
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                line = f":{mark.line + 1}" if mark is not None else ""
                raise ConfigError(f"{name}{line}: YAML syntax error: {exc.problem or exc}") from None
            except yaml.YAMLError as exc:
                raise ConfigError(f"{name}: YAML error: {exc}") from None
            finally:
                loader.dispose()
        finally:
            self._stack.pop()

    def include_tag(self, target: Any, origin: _Location) -> Any:
        """Content of a ``!include`` target: relative to the including file, never the cwd."""
        if not isinstance(target, str):
            raise ConfigError(f"{_display(origin)}: !include needs a file name, got {target!r}")
        expanded = os.path.expanduser(target)
        if _URI.match(target):
            location = _to_location(target)
        elif os.path.isabs(expanded):
            location = Path(os.path.normpath(expanded))
        elif _is_uri(origin):
            location = origin.dirname().join(target)
        else:
            location = Path(os.path.normpath(origin.parent / target))
        return self.parse(location, any_suffix=True)

    def load(self, location: _Location) -> dict[Any, Any]:
        """A whole file with its ``includeConfigs`` (and theirs) merged in."""
        data = self.parse(location)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{_display(location)}: top level must be a mapping, not {type(data).__name__}")
        self._enter(location)
        try:
            return self._apply_includes(data, location)
        finally:
            self._stack.pop()

    def _apply_includes(self, data: dict[Any, Any], location: _Location) -> dict[Any, Any]:
        """Replace every ``includeConfigs`` entry by the files it names, like daf_butler.

        Paths are visited depth first in file order; included files form the base (later
        ones override earlier ones) and the values written next to ``includeConfigs`` win.
        """
        for path in _include_paths(data):
            base_path = path[:-1]
            _, node = _lookup(data, base_path) if base_path else (True, data)
            names = node.pop(INCLUDE_KEY)
            names = names if isinstance(names, list) else [names]
            if not names:
                continue
            parts = [self.load(self._resolve(name, location)) for name in names]
            merged = parts[0]
            for part in parts[1:]:
                _merge_into(merged, part)
            _merge_into(merged, node)
            if not base_path:
                data = merged
            else:
                _, parent = _lookup(data, base_path[:-1]) if len(base_path) > 1 else (True, data)
                parent[base_path[-1]] = merged
        return data

    def _resolve(self, name: Any, location: _Location) -> _Location:
        """Find an ``includeConfigs`` file: absolute, else under the cwd, else next to the includer."""
        where = _display(location)
        if not isinstance(name, str):
            raise ConfigError(f"{where}: {INCLUDE_KEY} entries must be file names, got {name!r}")
        expanded = os.path.expandvars(name)
        if _URI.match(expanded):
            return _to_location(expanded)
        target = os.path.expanduser(expanded)
        if os.path.isabs(target):
            return Path(target)
        bases: list[_Location] = [Path.cwd()]
        bases.append(location.dirname() if _is_uri(location) else location.parent)
        for base in bases:
            candidate = base.join(target) if _is_uri(base) else Path(os.path.normpath(base / target))
            if _exists(candidate):
                return candidate
        unset_panda_dir = f"${_PANDA_DIR_VAR}" in expanded or f"${{{_PANDA_DIR_VAR}}}" in expanded
        if unset_panda_dir and expanded.replace("\\", "/").endswith(f"/config/{_BUNDLED_NAME}"):
            # The reference plugin's own defaults, without the LSST stack: use our copy.
            return _bundled_location()
        raise ConfigError(
            f"{where}: include file '{name}' not found (looked in the cwd and the file's directory)"
        )


def _include_paths(data: Any) -> list[tuple[Any, ...]]:
    """Paths (tuples of keys/indices) ending in ``includeConfigs``, depth first in file order."""
    found: list[tuple[Any, ...]] = []

    def walk(node: Any, prefix: tuple[Any, ...]) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            path = (*prefix, key)
            if key == INCLUDE_KEY and isinstance(node, dict):
                found.append(path)
            if isinstance(value, dict | list):
                walk(value, path)

    walk(data, ())
    return found


def _eval_allowed(tree: Mapping[Any, Any], explicit: bool | None, *, own: bool) -> bool:
    """Whether ``bpsEval`` may run: the caller said so, else the user's own file opts in."""
    if explicit is not None:
        return bool(explicit)
    return own and tree.get(BPS_EVAL_CONFIG_KEY) is True


def load_config(
    path: str | os.PathLike[str] | ResourcePath, *, allow_bps_eval: bool | None = None, own: bool = True
) -> BpsYamlConfig:
    """Read a BPS YAML file (local path or lsst-resources URI) with its ``includeConfigs``.

    Like ``BpsConfig(path)``: nothing else is merged in (no ``bps_defaults.yaml``, no
    plugin defaults), unlike ``bps submit``.  ``bpsEval`` is allowed if `allow_bps_eval`
    is true, or if it is None, `own` is true (the user named this file) and the file sets
    ``pandaCompileAllowBpsEval: true``; a file found in a submit folder is not `own`.
    """
    reader = _Reader()
    location = _to_location(path)
    data = reader.load(location)
    allow = _eval_allowed(data, allow_bps_eval, own=own)
    return BpsYamlConfig._adopt(data, tuple(reader.files), SEARCH_ORDER, allow)


def _load_bundled(names: tuple[str, ...]) -> BpsYamlConfig:
    """The bundled files ``names`` (in compiler/data), later ones over earlier ones."""
    reader = _Reader()
    data: dict[Any, Any] = {}
    for name in names:
        _merge_into(data, reader.load(resources.files("compiler.data").joinpath(name)))
    return BpsYamlConfig._adopt(data, tuple(reader.files), SEARCH_ORDER)


@functools.cache
def plugin_defaults() -> BpsYamlConfig:
    """What `compiler.PanDAService.defaults` gives BPS: bps_panda.yaml, then generic_site.yaml.

    BPS layers these over its own bps_defaults.yaml and under the submit YAML. The
    returned object is shared; it has no mutating methods.
    """
    return _load_bundled(PLUGIN_DEFAULT_FILES)


@functools.cache
def bundled_defaults() -> BpsYamlConfig:
    """Everything `bps submit` would put under a submit YAML for this plugin (parsed once).

    ctrl_bps's defaults this plugin reads (bps_defaults.yaml), the reference plugin's
    (bps_panda.yaml), then the generic runner (generic_site.yaml); see compiler/data.
    """
    return _load_bundled(BUNDLED_DEFAULT_FILES)


def layered_config(
    user: BpsYamlConfig | None,
    defined: Mapping[str, Any] | None = None,
    *,
    allow_bps_eval: bool | None = None,
) -> BpsYamlConfig:
    """The config a standalone compile searches: `bundled_defaults` < ``user`` < ``defined``.

    ``defined`` goes into the ``bps_defined`` section, where `bps submit` keeps the values
    it computes (searched before the root, as BpsConfig does). Error messages name the
    user's file first. ``bpsEval`` is allowed as the user's config allows it, unless
    `allow_bps_eval` says otherwise.
    """
    base = bundled_defaults()
    data = copy.deepcopy(base._data)
    if user is not None:
        _merge_into(data, user._data)
    if defined:
        _merge_into(data, {"bps_defined": dict(defined)})
    paths = (*(user.paths if user is not None else ()), *base.paths)
    allow = bool(allow_bps_eval) if allow_bps_eval is not None else bool(user and user.allows_bps_eval)
    return BpsYamlConfig._adopt(data, paths, SEARCH_ORDER, allow)


def as_config(obj: Any, *, allow_bps_eval: bool | None = None, own: bool = True) -> Any:
    """Accept whatever the caller has as a BPS config and return something with ``.search``.

    A real ``BpsConfig`` (anything with a ``search`` method) is returned untouched, a mapping
    is wrapped, a path or URI is loaded and ``None`` gives `bundled_defaults`.
    `allow_bps_eval` and `own` are those of `load_config`.
    """
    if obj is None:
        if allow_bps_eval:
            base = bundled_defaults()
            return BpsYamlConfig._adopt(base._data, base.paths, base.search_order, True)
        return bundled_defaults()
    if callable(getattr(obj, "search", None)):
        return obj
    if isinstance(obj, Mapping):
        config = BpsYamlConfig(obj, allow_bps_eval=allow_bps_eval)
        config._allow_eval = _eval_allowed(config._data, allow_bps_eval, own=own)
        return config
    if isinstance(obj, str | os.PathLike) or _is_uri(obj):
        return load_config(obj, allow_bps_eval=allow_bps_eval, own=own)
    raise ConfigError(f"cannot use a {type(obj).__name__} as a BPS config")
