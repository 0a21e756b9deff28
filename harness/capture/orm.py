"""What the ORM was loading when it sent a statement: relationship loads and column reloads.

One listener on the ``Session`` class (``do_orm_execute``, so every Session, sync or async,
is seen) classifies each ORM execution with SQLAlchemy's public :class:`ORMExecuteState`
and, when it is a relationship load or a column reload, puts a :class:`Tag` in the
execution's options (``update_execution_options``).  The cursor-level hooks of
:mod:`dalperf.capture.instrument` read it back from the statement's execution context, so a
tag travels with exactly its own statement: no guessing which Session or which statement
it belongs to, and the statements a flush sends carry none.

- Relationship load: ``state.is_relationship_load``; the relationship is the last element
  of ``state.loader_strategy_path``.  It is lazy (one statement per parent object) when
  ``state.lazy_loaded_from`` names the parent; ``selectinload``/``subqueryload`` statements
  have no single parent and are tagged eager (a finding never counts them).
- Column reload: ``state.is_column_load``; the instance and the columns asked for come from
  the load options (``_refresh_state``, ``_only_load_props``: SQLAlchemy offers no public
  name for them, so they are read with defaults and a missing one only loses detail).

The listener costs a few attribute reads per ORM execution, and nothing unless a capture
is recording.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from dalperf.capture import instrument  # a cycle: instrument imports this module; used at call time
from dalperf.capture.records import ORM_OPTION as TAG  # the execution option carrying the Tag


class LoadKind(StrEnum):
    LAZY = "lazy"  # a relationship loaded for one parent object
    EAGER = "eager"  # a relationship loaded for many parents at once (selectin, subquery)
    COLUMNS = "columns"  # deferred or expired columns loaded for one object


@dataclass(frozen=True, slots=True)
class Tag:
    """One ORM load: what it loaded, and for which object.

    ``label`` is how the user wrote it: ``Post.comments`` for a relationship, the class name
    (``Post``) for a column reload.  ``parent`` identifies the object loaded for (its
    identity key); ``path`` is how that object was loaded itself (the relationships from the
    query's entity to it, as ``Class.attribute`` labels), for a chained fix.
    """

    kind: LoadKind
    label: str
    collection: bool = False  # a relationship that holds many objects (one-to-many, m2m)
    parent: Any = None
    path: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    expired: bool = False  # a column reload of attributes expired (commit, expire()), not deferred


_lock = threading.Lock()
_users = 0


def install() -> None:
    """Put the listener on the Session class; every call needs an :func:`uninstall`."""
    global _users
    with _lock:
        if _users == 0:
            event.listen(Session, "do_orm_execute", _tag)
        _users += 1


def uninstall() -> None:
    global _users
    with _lock:
        _users -= 1
        if _users == 0:
            event.remove(Session, "do_orm_execute", _tag)


def _tag(state: ORMExecuteState) -> None:
    if state.is_relationship_load:
        if not instrument.recording():
            return
        tag = _relationship(state)
    elif state.is_column_load:
        if not instrument.recording():
            return
        tag = _columns(state)
    else:
        return
    if tag is not None:
        state.update_execution_options(**{TAG: tag})


def _relationship(state: ORMExecuteState) -> Tag | None:
    path = state.loader_strategy_path
    if path is None or not len(path):
        return None
    prop = path[-1]
    label = f"{prop.parent.class_.__name__}.{prop.key}"
    parent = state.lazy_loaded_from
    if parent is None:
        return Tag(LoadKind.EAGER, label, collection=bool(prop.uselist))
    key = parent.identity_key if parent.identity_key is not None else id(parent)
    return Tag(LoadKind.LAZY, label, collection=bool(prop.uselist), parent=key,
               path=_relationships(parent.load_path))


def _columns(state: ORMExecuteState) -> Tag | None:
    refresh = getattr(state.load_options, "_refresh_state", None)
    if refresh is None:
        return None
    only = getattr(getattr(state.statement, "_compile_options", None), "_only_load_props", None)
    if not only:
        return None  # session.refresh(obj): asked for by the code, not a reload behind its back
    columns = tuple(sorted(only))
    expired = bool(refresh.expired) or set(columns) <= refresh.expired_attributes
    key = refresh.identity_key if refresh.identity_key is not None else id(refresh)
    return Tag(LoadKind.COLUMNS, refresh.class_.__name__, parent=key, columns=columns,
               expired=expired)


def _relationships(load_path: Any) -> tuple[str, ...]:
    """``Author.posts`` ... from an ORM path ``Mapper[Author] -> Author.posts -> Mapper[Post]``."""
    labels = []
    for element in load_path:
        key = getattr(element, "key", None)
        owner = getattr(getattr(element, "parent", None), "class_", None)
        if key is not None and owner is not None and hasattr(element, "uselist"):
            labels.append(f"{owner.__name__}.{key}")
    return tuple(labels)
