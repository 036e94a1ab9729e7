"""The package's locks, given back free to a child of fork().

A threading.Lock held by another thread of the parent at fork() stays held in the child,
where that thread does not exist: the child's first labels(), register() or start of a
server would wait for ever (gunicorn and uwsgi fork workers from a parent that may be busy).
Every lock of the package is made here, and a child replaces each with a new, free one.
"""

import os
import threading
import weakref

__all__ = ["new_lock"]

# owner -> {attribute: lock factory}
_owned = weakref.WeakKeyDictionary()
# (module globals, name, factory) of module-level locks
_module_locks = []


def new_lock(owner, attribute, factory=threading.Lock):
    """Sets ``owner.attribute`` to a new lock that a fork() child gets free."""
    setattr(owner, attribute, factory())
    _owned.setdefault(owner, {})[attribute] = factory


def new_module_lock(module_globals, name, factory=threading.Lock):
    """A module-level lock ``name`` in `module_globals`, given back free to a fork() child."""
    module_globals[name] = factory()
    _module_locks.append((module_globals, name, factory))
    return module_globals[name]


def _renew_in_child():
    # The child has one thread, this one: nothing else can be using the locks.
    for owner, attributes in list(_owned.items()):
        for attribute, factory in attributes.items():
            setattr(owner, attribute, factory())
    for module_globals, name, factory in _module_locks:
        module_globals[name] = factory()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_in_child)
