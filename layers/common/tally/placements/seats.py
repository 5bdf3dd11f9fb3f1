"""A placement's seats as the webhook applier moves them (contract: PlacementSeats).

STAND-IN: the checkout branch owns placements (reservation at checkout, the seat counters, the
listing). This minimal version only moves a reservation's status with conditional writes, so
that the applier is wired end to end; the lead keeps the checkout branch's at merge.

    RESERVATION#{id}  RESERVATION   status reserved | active | released (keys.placement_reservation)
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from tally.storage import keys
from tally.storage.errors import error_code
from tally.storage.guard import transient_as_unavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoPlacementSeats:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def _move(self, reservation_id: str, status: str, allowed: tuple[str, ...], at: datetime) -> None:
        names = ", ".join(f":from{index}" for index in range(len(allowed)))
        values = {f":from{index}": {"S": value} for index, value in enumerate(allowed)}
        try:
            with transient_as_unavailable():
                self._client.update_item(
                    TableName=self._table,
                    Key=keys.placement_reservation(reservation_id),
                    UpdateExpression="SET #status = :status, #at = :at",
                    ConditionExpression=f"#status IN ({names})",
                    ExpressionAttributeNames={"#status": "status", "#at": f"{status}_at"},
                    ExpressionAttributeValues={
                        ":status": {"S": status},
                        ":at": {"S": at.isoformat()},
                        **values,
                    },
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            # Already in that state, released, or unknown: nothing to do (idempotent).

    def confirm(self, reservation_id: str, *, at: datetime) -> None:
        self._move(reservation_id, "active", ("reserved",), at)

    def release(self, reservation_id: str, *, at: datetime) -> None:
        self._move(reservation_id, "released", ("reserved", "active"), at)
