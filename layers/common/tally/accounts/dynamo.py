"""DynamoDB account repository (billing table)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tally.accounts.domain import Account
from tally.errors import Conflict, ServiceUnavailable
from tally.storage import keys
from tally.storage.errors import error_code
from tally.storage.guard import transient_as_unavailable
from tally.storage.items import from_item, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

ACCOUNT_KIND = "account"


CLAIM_KIND = "claim"
NEW_KEY = "attribute_not_exists(PK)"


class DynamoAccountRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def add(self, account: Account) -> None:
        """The account and a claim on each of its SIREN and SIRET, all or nothing."""
        item = keys.account(account.id) | to_item(
            {
                "kind": ACCOUNT_KIND,
                "id": account.id,
                "name": account.name,
                "email": account.email,
                "country": account.country,
                "currency": account.currency,
                "siren": account.siren,
                "siret": account.siret,
                "created_at": account.created_at.isoformat(),
            }
        )
        puts: list[tuple[str, str, dict[str, Any]]] = [("id", account.id, item)]
        claimed = {"kind": CLAIM_KIND, "account_id": account.id}
        if account.siren:
            puts.append(("siren", account.siren, keys.siren_claim(account.siren) | to_item(claimed)))
        if account.siret:
            puts.append(("siret", account.siret, keys.siret_claim(account.siret) | to_item(claimed)))
        transaction: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": put,
                    "ConditionExpression": NEW_KEY,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
            for _, _, put in puts
        ]
        try:
            with transient_as_unavailable():
                self._client.transact_write_items(TransactItems=transaction)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            for (field, value, _), reason in zip(puts, reasons, strict=False):
                if reason.get("Code") == "ConditionalCheckFailed":
                    raise _taken(field, value, reason.get("Item") or {}) from exc
            if any(reason.get("Code") == "TransactionConflict" for reason in reasons):
                # Another request is claiming the same number right now: retrying settles it.
                raise ServiceUnavailable() from exc
            raise

    def get(self, account_id: str) -> Account | None:
        with transient_as_unavailable():
            answer = self._client.get_item(
                TableName=self._table, Key=keys.account(account_id), ConsistentRead=True
            )
        raw = answer.get("Item")
        if not raw:
            return None
        item = from_item(raw)
        return Account(
            id=str(item["id"]),
            name=str(item["name"]),
            email=str(item["email"]),
            country=str(item["country"]),
            currency=str(item["currency"]),
            siren=item.get("siren"),
            siret=item.get("siret"),
            created_at=datetime.fromisoformat(str(item["created_at"])),
        )


def _taken(field: str, value: str, holder: Mapping[str, Any]) -> Conflict:
    """The Conflict for a claim another account holds, naming the field, the number and the holder."""
    if field == "id":
        return Conflict(f"Account '{value}' already exists", field="id")
    owner = from_item(holder).get("account_id")
    whose = f"account '{owner}'" if owner else "another account"
    return Conflict(f"{field.upper()} {value} already belongs to {whose}", field=field)
