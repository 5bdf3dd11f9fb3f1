"""DynamoDB account repository (billing table)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from tally.accounts.domain import Account
from tally.errors import Conflict
from tally.storage import keys
from tally.storage.errors import error_code
from tally.storage.guard import transient_as_unavailable
from tally.storage.items import from_item, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ACCOUNT_KIND = "account"


class DynamoAccountRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def add(self, account: Account) -> None:
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
        try:
            with transient_as_unavailable():
                self._client.put_item(
                    TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(PK)"
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict(f"Account '{account.id}' already exists", field="id") from exc
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
