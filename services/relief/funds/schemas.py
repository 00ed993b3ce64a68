"""Request and response bodies of the approval-route calculator and the reserve-fund API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from services.relief.schemas import LocalDatetime, ReliefAmount, TownCode
from shared.money import PositiveYuan, Yuan, format_yuan
from shared.timestamps import BusinessDate


class ApprovalRouteIn(BaseModel):
    """``amount`` yuan asked for in ``town``. ``reserve_left`` (optional, yuan) is a what-if
    figure replacing the town's actual reserve left; ``on`` (optional) the date whose parameters
    and reserve year apply (default: today in Asia/Shanghai)."""

    model_config = ConfigDict(extra="forbid")

    amount: ReliefAmount
    town: TownCode
    reserve_left: Yuan | None = None
    on: BusinessDate | None = None


class ApprovalRouteOut(BaseModel):
    """``approver``: ``town`` or ``district``; ``refused``: ``reserve_insufficient`` when the town
    tier applies but its reserve left does not cover the amount (then ``approver`` is ``town``
    and ``allowed`` is false). ``trace``: inputs, parameter versions, figures, rule ids."""

    approver: Literal["town", "district"] | None
    refused: Literal["reserve_insufficient"] | None
    allowed: bool
    amount: Yuan
    town: str
    year: int
    reserve_left: Yuan
    trace: dict[str, Any]


class FundingIn(BaseModel):
    """A reserve booking: the year's ``allocation`` (once) or a ``top_up``, in yuan."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["allocation", "top_up"]
    amount: PositiveYuan
    reference: str | None = Field(None, max_length=100, description="the finance office's document number")
    note: str | None = Field(None, max_length=500)


class EntryOut(BaseModel):
    """One ledger line of a town's reserve; ``balance_after`` is what it left (yuan)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    town: str
    year: int
    kind: Literal["allocation", "top_up", "payment"]
    amount: Yuan
    balance_after: Yuan
    case_id: str | None
    reference: str | None
    note: str | None
    booked_at: LocalDatetime
    booked_by: str

    @classmethod
    def of(cls, entry: Any) -> EntryOut:
        return cls(
            id=entry.id, town=entry.town, year=entry.year, kind=entry.kind, amount=entry.amount,
            balance_after=entry.balance_after, case_id=str(entry.case_id) if entry.case_id else None,
            reference=entry.reference, note=entry.note, booked_at=entry.booked_at, booked_by=entry.booked_by,
        )


class ReserveOut(BaseModel):
    """A town's reserve for a year (R-TR-4), yuan: ``allocated`` + ``topped_up`` =
    ``allocated_total``; ``paid``; ``balance`` left; ``usage_rate`` = paid / allocated_total
    (ratio, 4 places, null when nothing allocated) against ``usage_target`` (0.90)."""

    town: str
    town_name: str
    year: int
    allocated: Yuan
    topped_up: Yuan
    allocated_total: Yuan
    paid: Yuan
    balance: Yuan
    usage_rate: Decimal | None
    usage_target: Decimal
    meets_target: bool | None

    @field_serializer("usage_rate", "usage_target")
    def _ratio(self, value: Decimal | None) -> str | None:
        return None if value is None else f"{value:.4f}"


class ReserveListOut(BaseModel):
    """Every town's reserve for ``year``, and the district's totals."""

    year: int
    items: list[ReserveOut]
    district: ReserveOut


def ratio(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.4f}"


__all__ = ["ApprovalRouteIn", "ApprovalRouteOut", "EntryOut", "FundingIn", "ReserveListOut", "ReserveOut", "format_yuan"]
