"""What the ORM was loading when it sent a statement: relationship loads and column reloads.

One listener on the ``Session`` class (``do_orm_execute``, so every Session, sync or async,
is seen) classifies each ORM execution with SQLAlchemy's public :class:`ORMExecuteState`
and, when it is a relationship load or a column reload, puts a :class:`Tag` in the
execution's options (``update_execution_options``).  The cursor-level hooks of
:mod:`dalperf.capture.recorder` read it back from the statement's execution context, so a
tag travels with exactly its own statement: no guessing which Session or which statement
it belongs to, and the statements a flush sends carry none.

- Relationship load: ``state.is_relationship_load``; the relationship is the last element
  of ``state.loader_strategy_path``.  It is lazy (one statement per parent object) when
  ``state.lazy_loaded_from`` names the parent; ``selectinload``/``subqueryload`` statements
  have no single parent and are tagged eager (a finding never counts them).
  A relationship whose mapping is eager (``lazy="selectin"``, ``"joined"``, ``"subquery"``)
  that SQLAlchemy loads for one object (the refresh of that object, where the selectin
  loader falls back to a per-object load) is its own batch, tagged eager too.
- Joined eager loads, only while :mod:`dalperf.capture.reads` watches reads (the opt-in
  unused-eager-load rule): a top-level query whose options ``joinedload`` relationships is
  tagged ``joined`` with their labels; it counts as an untagged statement otherwise.
- Column reload: ``state.is_column_load``; the instance and the columns asked for come from
  the load options (``_refresh_state``, ``_only_load_props``: SQLAlchemy offers no public
  name for them, so they are read with defaults and a missing one only loses detail).  An
  explicit ``session.refresh(obj)`` is a column reload of all of the object's columns; the
  reload of an object a flush just wrote (``add(x); commit(); refresh(x)``, or ``x.id``
  after the commit: :func:`dalperf.capture.units.written`) is tagged ``refresh`` and never
  counts.

The listener costs a few attribute reads per ORM execution, and nothing unless a capture
is recording.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from dalperf.capture import reads, sinks, units
from dalperf.capture.records import ORM_OPTION as TAG  # the execution option carrying the Tag


class LoadKind(StrEnum):
    LAZY = "lazy"  # a relationship loaded for one parent object
    EAGER = "eager"  # a relationship loaded for many parents at once (selectin, subquery)
    JOINED = "joined"  # a query whose options joinedload relationships (``Tag.joined``)
    COLUMNS = "columns"  # deferred or expired columns loaded for one object
    REFRESH = "refresh"  # an object reloaded right after a flush wrote it


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
    explicit: bool = False  # a column reload the code asked for: session.refresh(obj)
    key: str = "id"  # the parent class's primary-key attribute (a batched loop's fix)
    recursive: bool = False  # a relationship from a class to itself (a tree)
    depth: int = 1  # for a tree: the parent's level (1: an object the code loaded itself)
    table: str = ""  # the parent class's table (to see parents loaded one by one)
    mapped_eager: bool = False  # an eager load the mapping asks for (lazy="selectin")
    joined: tuple[str, ...] = ()  # JOINED: the relationships its joinedload options fill


_lock = threading.Lock()
_users = 0
_EAGER_MAPPINGS = frozenset({"selectin", "joined", "subquery"})
_depths: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()  # tree levels


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


def _tag(state: ORMExecuteState) -> Any:
    if state.is_relationship_load:
        if not sinks.recording():
            return
        tag = _relationship(state)
    elif state.is_column_load:
        if not sinks.recording():
            return
        tag = _columns(state)
    elif reads.installed() and state.is_select and sinks.recording():
        tag = _joined(state)
    else:
        return
    if tag is None:
        return None
    state.update_execution_options(**{TAG: tag})
    if tag.recursive:
        return _note_depths(state, tag)
    return None


def _note_depths(state: ORMExecuteState, tag: Tag) -> Any:
    """Run a lazy load of a class's relationship to itself (a tree) now, noting that the
    objects it loads sit one level below their parent: the fix's ``recursion_depth``.  The
    lazy loader starts each load's path afresh, so the path cannot tell the depth."""
    result = state.invoke_statement()
    frozen = result.freeze()
    for row in frozen().all():
        for value in row:
            child = getattr(value, "_sa_instance_state", None)
            if child is not None:
                _depths[child] = tag.depth + 1
    return frozen()


def _relationship(state: ORMExecuteState) -> Tag | None:
    path = state.loader_strategy_path
    if path is None or not len(path):
        return None
    prop: Any = path[-1]  # the relationship being loaded (a path's last element)
    label = f"{prop.parent.class_.__name__}.{prop.key}"
    parent = state.lazy_loaded_from
    if parent is None or prop.lazy in _EAGER_MAPPINGS:
        if parent is None and prop.lazy not in _EAGER_MAPPINGS:
            reads.watch(prop, label)  # asked for by a query's option, not by the mapping
        return Tag(
            LoadKind.EAGER,
            label,
            collection=bool(prop.uselist),
            mapped_eager=prop.lazy in _EAGER_MAPPINGS,
        )
    key = parent.identity_key if parent.identity_key is not None else id(parent)
    primary = prop.parent.primary_key
    recursive = prop.mapper.class_ is prop.parent.class_
    return Tag(
        LoadKind.LAZY,
        label,
        collection=bool(prop.uselist),
        parent=key,
        path=_relationships(parent.load_path),
        key=_attribute(prop.parent, primary[0]) if len(primary) == 1 else "id",
        recursive=recursive,
        depth=_depths.get(parent, 1) if recursive else 1,
        table=str(getattr(prop.parent.local_table, "name", "")),
    )


def _joined(state: ORMExecuteState) -> Tag | None:
    """A query's ``joinedload`` options (at any level of a chain), when the unused-eager-load
    rule watches reads: their relationships are filled from the query's own rows, so no
    statement of their own would tell.  The options' elements and paths are SQLAlchemy's
    internals (``_with_options``, ``context``, ``strategy``), read with defaults: a change
    there only loses the finding."""
    labels = []
    for option in getattr(state.statement, "_with_options", ()):
        for element in getattr(option, "context", ()):
            if ("lazy", "joined") not in (getattr(element, "strategy", None) or ()):
                continue
            path = tuple(getattr(element, "path", ()))
            prop: Any = path[-2] if len(path) >= 2 else None
            if not hasattr(prop, "uselist") or prop.lazy in _EAGER_MAPPINGS:
                continue
            label = f"{prop.parent.class_.__name__}.{prop.key}"
            reads.watch(prop, label)
            labels.append(label)
    return Tag(LoadKind.JOINED, labels[0], joined=tuple(labels)) if labels else None


def _columns(state: ORMExecuteState) -> Tag | None:
    refresh = getattr(state.load_options, "_refresh_state", None)
    if refresh is None:
        return None
    only = getattr(getattr(state.statement, "_compile_options", None), "_only_load_props", None)
    key = refresh.identity_key if refresh.identity_key is not None else id(refresh)
    label = refresh.class_.__name__
    if units.written(refresh):
        return Tag(LoadKind.REFRESH, label, parent=key)
    if not only:  # session.refresh(obj): every column
        return Tag(LoadKind.COLUMNS, label, parent=key, explicit=True)
    columns = tuple(sorted(only))
    expired = bool(refresh.expired) or set(columns) <= refresh.expired_attributes
    return Tag(LoadKind.COLUMNS, label, parent=key, columns=columns, expired=expired)


def _attribute(mapper: Any, column: Any) -> str:
    """The attribute name ``mapper`` maps ``column`` to (``id`` when it cannot tell)."""
    try:
        return str(mapper.get_property_by_column(column).key)
    except Exception:
        return "id"


def _relationships(load_path: Any) -> tuple[str, ...]:
    """``Author.posts`` ... from an ORM path ``Mapper[Author] -> Author.posts -> Mapper[Post]``."""
    labels = []
    for element in load_path:
        key = getattr(element, "key", None)
        owner = getattr(getattr(element, "parent", None), "class_", None)
        if key is not None and owner is not None and hasattr(element, "uselist"):
            labels.append(f"{owner.__name__}.{key}")
    return tuple(labels)
