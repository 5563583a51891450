"""The sandbox's seccomp filters, compiled by libseccomp (through ``pyseccomp``) in the host.

Two programs, loaded by the sandbox worker (``_zygote.py``) with one ``prctl`` each, so
that nothing in the sandbox needs libseccomp itself:

* ``worker``: loaded by the worker once its modules are imported. It denies what neither
  the worker nor any snippet needs: running programs (``execve``), sockets, tracing and
  reading other processes' memory, mounts and namespaces (``unshare``, ``setns``, ``clone``
  with a namespace flag), new sessions and process groups, changing other processes'
  limits, kernel keyrings, BPF, perf events, ``userfaultfd``, ``io_uring``, module loading,
  changing a file's mode, owner, times or attributes, file locks, file events and page
  cache control (what another sandbox, or the next snippet, could see), and every system
  call newer than ``clone3`` but a few that act on the caller alone.
* ``child``: added on top in every child the worker forks for untrusted code. It denies
  signals and pidfds of any kind (a child has nobody to signal), also those the kernel
  sends for a file descriptor (``F_SETOWN``, ``F_SETSIG``, ``FIOASYNC``, ...), new
  processes and threads,
  any change of resource limits (the child's are set before it loads the filter) or of
  priorities, scheduling or CPU affinity (the worker's would pass on to later children),
  System V and POSIX IPC objects and memfds (which would outlive the child), and shared
  mappings.

Denied calls fail with ``EPERM`` (``ENOSYS`` for ``clone3``, whose flags a filter cannot
read, so that the C library falls back to ``clone``); a call from another architecture's
table kills the process (libseccomp's default).
"""

from __future__ import annotations

import errno
import functools
import tempfile

# clone(2) flags that make a new namespace.
_NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x00000080,  # CLONE_NEWTIME
)
_WORKER_DENIED = (
    "execve", "execveat",
    "socket", "socketpair",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_tree",
    "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
    "setsid", "setpgid",
    "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "sync", "syncfs",
    # A file's mode, owner, times and attributes. The few writable mounts are device nodes,
    # and the sandbox's user may own them (root's, where bwrap runs as root).
    "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat",
    "utime", "utimes", "futimesat", "utimensat",
    "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    "name_to_handle_at", "open_by_handle_at",
    # What other processes see: locks, file events, the page cache (which pages of a
    # shared file are cached carries bits from one process, or snippet, to the next).
    "flock", "inotify_init", "inotify_init1", "fanotify_init",
    "fadvise64", "readahead", "mincore", "preadv2", "pwritev2",
)  # fmt: skip
_CHILD_DENIED = (
    "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "pidfd_open", "pidfd_send_signal",
    "fork", "vfork", "clone",
    "setrlimit", "prlimit64",
    # Priorities, scheduling and CPUs: of the worker too, and its later children inherit them.
    "setpriority", "sched_setscheduler", "sched_setparam", "sched_setattr",
    "sched_setaffinity", "ioprio_set",
    # System V and POSIX IPC outlive the child in the worker's IPC namespace.
    "shmget", "shmat", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop",
    "semctl", "semtimedop", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
    "mq_notify", "mq_getsetattr", "memfd_create",
)  # fmt: skip
# Since Linux 5.1 new system calls have one number on every architecture. Those from
# clone3 (435) on are denied, but for these, which act on the caller alone: close_range,
# openat2, faccessat2, epoll_pwait2, futex_waitv, map_shadow_stack, futex_wake, futex_wait,
# futex_requeue, mseal. A call added to a later kernel is denied until it is looked at.
_NEWER_ALLOWED = frozenset({436, 437, 439, 441, 449, 453, 454, 455, 456, 462})
_NEWER = range(436, 600)

_LOW_32 = 0xFFFFFFFF
# fcntl(2) commands that lock a file (what other processes see) and mmap(2)'s MAP_SHARED.
_LOCKING_FCNTL = (5, 6, 7, 36, 37, 38)  # F_GETLK, F_SETLK(W), F_OFD_GETLK, F_OFD_SETLK(W)
_MAP_SHARED = 0x01
# madvise(2) advice that pushes a file's pages out of the page cache.
_EVICTING_MADVISE = (20, 21)  # MADV_COLD, MADV_PAGEOUT
# fcntl(2) commands and ioctl(2) requests that make the kernel signal a process.
_SIGNALLING_FCNTL = (
    8,  # F_SETOWN
    10,  # F_SETSIG
    15,  # F_SETOWN_EX
    1024,  # F_SETLEASE
    1026,  # F_NOTIFY
)
_SIGNALLING_IOCTL = (
    0x5452,  # FIOASYNC
    0x8901,  # FIOSETOWN
    0x8902,  # SIOCSPGRP
    0x540F,  # TIOCSPGRP
)


def available() -> str | None:
    """``None`` when the filters can be compiled here, else what is missing."""
    try:
        filters()
    except (ImportError, OSError, AttributeError, RuntimeError) as exc:
        return f"libseccomp through pyseccomp ({type(exc).__name__}: {exc})"
    return None


@functools.cache
def filters() -> dict[str, bytes]:
    """The ``worker`` and ``child`` filters as BPF programs for ``PR_SET_SECCOMP``."""
    import pyseccomp as seccomp

    deny = seccomp.ERRNO(errno.EPERM)
    worker = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in _WORKER_DENIED:
        worker.add_rule(deny, name)
    for flag in _NAMESPACE_FLAGS:
        worker.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    worker.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for number in _NEWER:
        if number not in _NEWER_ALLOWED:
            worker.add_rule(deny, number)
    # glibc's setrlimit is prlimit64(0, ...): this process may change its own limits.
    worker.add_rule(deny, "prlimit64", seccomp.Arg(0, seccomp.NE, 0))
    # The kernel reads these as 32-bit: compare the low half only, or a set high bit passes.
    for command in _LOCKING_FCNTL:
        worker.add_rule(deny, "fcntl", seccomp.Arg(1, seccomp.MASKED_EQ, _LOW_32, command))
    for advice in _EVICTING_MADVISE:
        worker.add_rule(deny, "madvise", seccomp.Arg(2, seccomp.MASKED_EQ, _LOW_32, advice))
    child = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in _CHILD_DENIED:
        child.add_rule(deny, name)
    # Signals the kernel sends on a file's behalf (SIGIO and a chosen signal to an owner).
    for command in _SIGNALLING_FCNTL:
        child.add_rule(deny, "fcntl", seccomp.Arg(1, seccomp.MASKED_EQ, _LOW_32, command))
    for request in _SIGNALLING_IOCTL:
        child.add_rule(deny, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, _LOW_32, request))
    # A shared mapping of a file is a futex (and memory) another sandbox can share.
    child.add_rule(deny, "mmap", seccomp.Arg(3, seccomp.MASKED_EQ, _MAP_SHARED, _MAP_SHARED))
    return {"worker": _bpf(worker), "child": _bpf(child)}


def _bpf(program: object) -> bytes:
    with tempfile.TemporaryFile() as file:
        program.export_bpf(file)  # type: ignore[attr-defined]
        file.seek(0)
        return file.read()
