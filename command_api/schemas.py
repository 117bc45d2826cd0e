"""Request and response models of the command API."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

# A sane ceiling: 10^15 minor units is ten trillion in a two-decimal currency.
MAX_AMOUNT = 10**15

Amount = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT, description="Minor units, > 0")]
CurrencyCode = Annotated[
    str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code", examples=["EUR"])
]
Reference = Annotated[
    str, Field(min_length=1, max_length=140, description="Free text, 1-140 chars")
]


class CommandIn(BaseModel):
    """Commands reject unknown fields so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("amount", "overdraft_limit", mode="before", check_fields=False)
    @classmethod
    def whole_number(cls, value: object) -> object:
        """`4161.0` as `4161`: JSON has one number type, and JSON Schema's `integer` (what
        the document says) admits both spellings, so a client's serialiser may send either.
        Any fraction is still refused (strict int); every amount we accept is below 2^53,
        so none was rounded on the way."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


class OpenAccountIn(CommandIn):
    """Open an account for an owner in one currency."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"owner_id": "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d", "currency": "EUR"}]
        }
    )

    owner_id: UUID
    currency: CurrencyCode
    overdraft_limit: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)] = 0


class DepositIn(CommandIn):
    """Deposit money into an account."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount": 12500, "reference": "salary november"}]}
    )

    amount: Amount
    reference: Reference
    channel: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = "api"


class WithdrawalIn(CommandIn):
    """Withdraw money from an account."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount": 2000, "reference": "cash machine 42"}]}
    )

    amount: Amount
    reference: Reference


class FreezeIn(CommandIn):
    """Freeze an account."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "suspected fraud"}]})

    reason: Reference


class TransferIn(CommandIn):
    """Move money from one account to another."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "source_account_id": "3f1c2b4e-8f7a-4c1e-9d2b-5a6f7e8d9c0b",
                    "target_account_id": "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d",
                    "amount": 5000,
                    "reference": "rent december",
                }
            ]
        }
    )

    source_account_id: UUID
    target_account_id: UUID
    amount: Amount
    reference: Reference


class CommandAccepted(BaseModel):
    """What a command changed: the aggregate, its new version and the log position."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "aggregate_id": "3f1c2b4e-8f7a-4c1e-9d2b-5a6f7e8d9c0b",
                    "version": 2,
                    "position": 41,
                    "correlation_id": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
                }
            ]
        }
    )

    aggregate_id: UUID
    version: int = Field(description="The aggregate's version after the command; also the ETag")
    position: int = Field(description="Global log position of the command's last event")
    correlation_id: UUID
