"""The operating-system boundary around untrusted code: bubblewrap namespaces and seccomp.

A sandbox worker runs under ``bwrap`` (Debian's ``bubblewrap``) in new user, PID, network,
mount, IPC, UTS and cgroup namespaces:

* the file system is read-only, an empty root with only the system libraries
  (``/usr/lib``), the interpreter and its standard library (its ``site-packages`` hidden),
  the allowed third-party packages with what they need and a ``/dev`` of ``null``,
  ``zero``, ``full``, ``random`` and ``urandom`` (no ``/proc``, no pseudo-terminals);
  no project folder, data file, home, ``/etc`` (only the dynamic loader's cache) or
  program is visible, and nothing, not even an empty file, can be created;
* the network namespace has no interface but a loopback that is down;
* the PID namespace holds the worker (its init) and its children only: nothing outside
  can be seen, signalled or traced, and when the worker dies, the kernel kills every
  process in it (``--die-with-parent`` ties the worker to the host process);
* the user namespace maps one unprivileged user, with no capabilities, to the host user
  that runs ``bwrap``: the caller, or for a root caller ``nobody`` where ``nobody`` can
  read what is bound (:func:`host_user`).

Inside, the worker loads the seccomp filters of :mod:`palaestra.sandbox.seccomp` and each
child adds its own, with ``PR_SET_NO_NEW_PRIVS``. The same boundary is built for root and
for other users. Where it cannot be built (no ``bwrap``, no user namespaces, no
libseccomp, not Linux), untrusted code runs only with the explicit opt-in
``unsafe_sandbox=True`` (``palaestra --unsafe-sandbox ...`` or
``PALAESTRA_UNSAFE_SANDBOX=1``), and a warning names what is missing.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from palaestra.errors import SandboxUnavailableError

#: Where the sandbox sees the worker script and the allowed packages.
SANDBOX_DIR = "/sandbox"
PACKAGES_DIR = f"{SANDBOX_DIR}/packages"
ZYGOTE = Path(__file__).with_name("_zygote.py")
UNSAFE_VARIABLE = "PALAESTRA_UNSAFE_SANDBOX"
_SYSTEM_LIBRARIES = ("/lib", "/lib32", "/lib64", "/libx32", "/usr/lib", "/usr/lib32",
                     "/usr/lib64", "/usr/libx32")  # fmt: skip
# --as-pid-1: the worker itself (undumpable, see _zygote.py) is the namespace's init, not a
# reaper of bwrap's that a child of the same user could read, write or signal.
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
_NAMESPACES = ("--unshare-all", "--as-pid-1", "--die-with-parent", "--new-session", "--uid",
               "65534", "--gid", "65534", "--hostname", "sandbox", "--cap-drop", "ALL")  # fmt: skip


class UnsafeSandboxWarning(RuntimeWarning):
    """Untrusted code runs without the OS boundary, by the user's explicit choice."""


@dataclass(frozen=True)
class Isolation:
    """Whether this machine can build the OS boundary.

    Attributes:
        missing: What is missing, one item each; empty when the boundary is available.
    """

    missing: tuple[str, ...]

    @property
    def available(self) -> bool:
        """Whether every part of the boundary is available."""
        return not self.missing


def unsafe_requested(unsafe_sandbox: bool | None) -> bool:
    """The opt-in: the argument, or ``PALAESTRA_UNSAFE_SANDBOX=1`` when it is ``None``."""
    if unsafe_sandbox is not None:
        return unsafe_sandbox
    return os.environ.get(UNSAFE_VARIABLE, "").strip().lower() in {"1", "true", "yes"}


def require(unsafe_sandbox: bool | None, what: str) -> bool:
    """Check that untrusted code may run here; return whether it runs without the boundary.

    Args:
        unsafe_sandbox: The caller's opt-in (``None``: from ``PALAESTRA_UNSAFE_SANDBOX``).
        what: What runs untrusted code, for the messages.

    Raises:
        SandboxUnavailableError: The boundary cannot be built and the user did not opt in.
    """
    found = report()
    if found.available:
        return False
    missing = "; ".join(found.missing)
    if not unsafe_requested(unsafe_sandbox):
        raise SandboxUnavailableError(
            f"{what} runs untrusted code, and this machine cannot isolate it: {missing}. "
            "Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) on Linux with "
            "user namespaces, or opt in to Python-level checks and resource limits only "
            "with unsafe_sandbox=True (palaestra --unsafe-sandbox ..., or "
            f"{UNSAFE_VARIABLE}=1)."
        )
    _warn_once(what, missing)
    return True


@functools.cache
def _warn_once(what: str, missing: str) -> None:
    warnings.warn(
        f"{what} runs untrusted code WITHOUT the OS sandbox (opted in): missing {missing}",
        UnsafeSandboxWarning,
        stacklevel=4,
    )


@functools.cache
def report() -> Isolation:
    """What this machine lacks for the boundary (checked once per process, by a trial run)."""
    from palaestra.sandbox import seccomp

    missing = []
    if not sys.platform.startswith("linux"):
        missing.append(f"Linux (this is {sys.platform})")
    elif shutil.which("bwrap") is None:
        missing.append("bubblewrap (bwrap is not on PATH)")
    else:
        problem = _trial_run()
        if problem:
            missing.append(f"user namespaces (bwrap failed: {problem})")
    if sys.platform.startswith("linux") and (problem := seccomp.available()):
        missing.append(problem)
    return Isolation(tuple(missing))


def _trial_run() -> str | None:
    command = wrap([sys.executable, "-I", "-S", "-c", "print('ok')"], allowed_imports=())
    user = host_user(command)
    try:
        done = subprocess.run(command, capture_output=True, timeout=30, env=_minimal_env(),
                              **as_user(user))  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0 or done.stdout.strip() != b"ok":
        return done.stderr.decode(errors="replace").strip()[-300:] or f"exit {done.returncode}"
    return None


def as_user(user: int | None) -> dict[str, Any]:
    """``subprocess`` keyword arguments that run the command as ``user`` (none: as we are)."""
    return {} if user is None else {"user": user, "group": user, "extra_groups": []}


def _minimal_env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def wrap(command: list[str], *, allowed_imports: tuple[str, ...]) -> list[str]:
    """``command`` (``command[0]`` the Python interpreter) under ``bwrap``.

    The interpreter runs at its real path; the worker script (when ``command`` names
    :data:`ZYGOTE`) is seen at ``/sandbox/zygote.py``, the allowed packages in
    :data:`PACKAGES_DIR`.
    """
    args = ["bwrap", *_NAMESPACES]
    for path in _SYSTEM_LIBRARIES:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    interpreter = os.path.realpath(command[0])
    stdlib = os.path.realpath(sysconfig.get_path("stdlib"))
    args += ["--ro-bind", interpreter, interpreter, "--ro-bind", stdlib, stdlib]
    library = _shared_libpython()
    if library:
        args += ["--ro-bind", library, library]
    for hidden in _site_dirs_under((stdlib, *_SYSTEM_LIBRARIES)):
        args += ["--tmpfs", hidden, "--remount-ro", hidden]
    for name, source in sorted(_package_files(allowed_imports).items()):
        args += ["--ro-bind", str(source), f"{PACKAGES_DIR}/{name}"]
    rest = list(command[1:])
    if str(ZYGOTE) in rest:
        rest[rest.index(str(ZYGOTE))] = f"{SANDBOX_DIR}/zygote.py"
        args += ["--ro-bind", str(ZYGOTE), f"{SANDBOX_DIR}/zygote.py"]
    # A /dev of a few device nodes, no pseudo-terminals (a machine has a few thousand).
    for device in _DEVICES:
        args += ["--dev-bind", device, device]
    # Nothing is writable: no file, not even an empty one, carries state between snippets.
    # No /proc: it would show other processes' files and the host's paths and kernel.
    args += ["--remount-ro", "/", "--chdir", "/"]
    return [*args, "--", interpreter, *rest]


#: The host user a root host runs ``bwrap`` as, when that user can read what is bound.
NOBODY = 65534


def host_user(command: list[str]) -> int | None:
    """The user to run a wrapped ``command`` as: ``nobody`` for a root host, if possible.

    The sandbox's user maps onto the host user that runs ``bwrap``. For a root host that
    would be root (without capabilities); when ``nobody`` can read every folder and file
    the sandbox binds, ``bwrap`` runs as ``nobody`` instead. An interpreter where others
    cannot reach it (pyenv under a ``0700`` ``/root``, say) keeps root.
    """
    if os.getuid() != 0:
        return None
    sources = [command[i + 1] for i, arg in enumerate(command) if arg == "--ro-bind"]
    return NOBODY if all(_readable_by_others(Path(s)) for s in sources) else None


def _readable_by_others(path: Path) -> bool:
    """Whether a user with no relation to ``path``'s owners can read it (not its insides)."""
    try:
        for folder in path.parents:
            if not folder.stat().st_mode & 0o001:
                return False
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & 0o004) and (not path.is_dir() or bool(mode & 0o001))


def _shared_libpython() -> str | None:
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return None
    name = sysconfig.get_config_var("INSTSONAME") or sysconfig.get_config_var("LDLIBRARY")
    path = Path(sysconfig.get_config_var("LIBDIR") or "") / str(name)
    return os.path.realpath(path) if path.exists() else None


def _site_dirs_under(roots: tuple[str, ...]) -> list[str]:
    """Package folders inside bound folders: hidden, so that only allowed packages show."""
    import site

    candidates = {*site.getsitepackages(), site.getusersitepackages(), *sys.path}
    for root in roots:
        for pattern in ("*-packages", "python3*/*-packages"):
            candidates.update(str(p) for p in Path(root).glob(pattern))
    hidden = set()
    for entry in candidates:
        real = os.path.realpath(entry) if entry else ""
        if not re.search(r"(site|dist)-packages$", real) or not os.path.isdir(real):
            continue
        if any(real.startswith(os.path.realpath(root) + "/") for root in roots):
            hidden.add(real)
    return sorted(hidden)


@functools.cache
def _package_files(allowed_imports: tuple[str, ...]) -> dict[str, Path]:
    """Top-level files and folders of the allowed third-party packages and their needs."""
    from packaging.requirements import Requirement

    top_level = metadata.packages_distributions()
    pending = [d for name in allowed_imports if name not in sys.stdlib_module_names
               for d in top_level.get(name, ())]  # fmt: skip
    seen: set[str] = set()
    files: dict[str, Path] = {}
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional need that is not installed
        parts = {f.parts[0] for f in dist.files or () if f.parts}
        for part in parts - {"..", "__pycache__"}:
            located = Path(str(dist.locate_file(part)))
            if located.exists():
                files[part] = located
        for text in dist.requires or ():
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    for name in allowed_imports:  # not from a distribution's file list (an editable install)
        spec = None if name in sys.stdlib_module_names else importlib.util.find_spec(name)
        if spec is not None and name not in files:
            locations = list(spec.submodule_search_locations or ())
            origin = Path(locations[0] if locations else str(spec.origin))
            if origin.exists():
                files[origin.name] = origin
    return files


__all__ = [
    "Isolation",
    "UnsafeSandboxWarning",
    "as_user",
    "host_user",
    "report",
    "require",
    "unsafe_requested",
    "wrap",
]
