"""GalleryDAL.listPublic: page k of the public gallery, newest first.

Order is ``created_at DESC, id DESC`` (items share ``created_at``, so ``id`` breaks
ties); an item is ``{id, render_id, user_id, likes, created_at}``, all of which the
partial covering index ``idx_gallery_items_public_keyset`` holds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_

from dalperf.errors import UsageError
from dalperf.measure.scenario import Budget, Db, Size, register
from dalperf.scenarios._dal import Record, read_rows, records
from dalperf.seed.schema import gallery_items

PAGE_SIZE = 20

_ITEM_COLUMNS = (
    gallery_items.c.id,
    gallery_items.c.render_id,
    gallery_items.c.user_id,
    gallery_items.c.likes,
    gallery_items.c.created_at,
)
_NEWEST_FIRST = (gallery_items.c.created_at.desc(), gallery_items.c.id.desc())


@dataclass(frozen=True, kw_only=True)
class Cursor:
    """Where a page ends: the ``(created_at, id)`` of its last item."""

    created_at: datetime
    id: int


@dataclass(frozen=True, kw_only=True)
class PageParams:
    """Page ``page`` (1-based) and, for keyset pagination, the cursor of the page before it."""

    page: int
    page_size: int = PAGE_SIZE
    after: Cursor | None = None


async def list_public_naive(db: Db, p: PageParams) -> list[Record]:
    """``OFFSET (k - 1) * 20``: the server walks past every item of the pages before."""
    async with db.sessions() as session:
        result = await session.execute(
            select(*_ITEM_COLUMNS)
            .where(gallery_items.c.is_public)
            .order_by(*_NEWEST_FIRST)
            .limit(p.page_size)
            .offset((p.page - 1) * p.page_size)
        )
        return records(result)


async def list_public_optimized(db: Db, p: PageParams) -> list[Record]:
    """Keyset pagination: ``(created_at, id) < cursor``, an index-only range scan.

    It starts from the cursor a client carries from the page before (``p.after``,
    ``None`` for page 1), so page 50 costs what page 1 costs.  A client cannot jump to an
    arbitrary page this way; for the benchmark the params factory supplies the cursor a
    client would have after paging through pages 1..k-1, found by an OFFSET query
    outside the measured call.
    """
    statement = select(*_ITEM_COLUMNS).where(gallery_items.c.is_public)
    if p.after is not None:
        statement = statement.where(
            tuple_(gallery_items.c.created_at, gallery_items.c.id)
            < tuple_(p.after.created_at, p.after.id)
        )
    return records(await read_rows(db, statement.order_by(*_NEWEST_FIRST).limit(p.page_size)))


async def page_with_cursor(db: Db, _rng: random.Random, size: int | None) -> PageParams:
    """Page ``size`` with the cursor of page ``size - 1``'s last item."""
    assert size is not None
    if size == 1:
        return PageParams(page=1)
    async with db.sessions() as session:
        last = (
            await session.execute(
                select(gallery_items.c.created_at, gallery_items.c.id)
                .where(gallery_items.c.is_public)
                .order_by(*_NEWEST_FIRST)
                .offset((size - 1) * PAGE_SIZE - 1)
                .limit(1)
            )
        ).first()
    if last is None:
        raise UsageError(
            f"page {size} of the public gallery does not exist: it has fewer than "
            f"{(size - 1) * PAGE_SIZE} items; seed at a larger scale"
        )
    return PageParams(page=size, after=Cursor(created_at=last.created_at, id=last.id))


register(
    "gallery.list_public",
    variants={"naive": list_public_naive, "optimized": list_public_optimized},
    params=page_with_cursor,
    size=Size(name="page", default=50, sweep=(1, 10, 25, 50)),
    budgets={"optimized": Budget(max_queries=1, max_round_trips=1, max_rows_fetched=PAGE_SIZE)},
    description="GalleryDAL.listPublic: page k of the public gallery, newest first.",
)
