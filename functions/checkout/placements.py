"""GET /v1/placements/{location_id}/{category_id}: a placement's seats, for any signed-in user.

A sponsorship's clicks and impressions are tracked by the tracking API already built: send
`sponsorship_id` (the reservation id checkout answered) with the sponsor's `account_id` to
POST /v1/track/click or /v1/track/view; GET /v1/track/stats lists them per sponsorship.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from checkout.wiring import policy, principal, seats
from tally import clock
from tally.checkout.models import PlacementOut
from tally.http.patterns import IDENTIFIER
from tally.http.responses import PRIVATE, responses
from tally.http.security import BEARER

router = Router()

PlacementPart = Annotated[str, Path(min_length=1, max_length=64, pattern=IDENTIFIER)]


@router.get(
    "/v1/placements/<location_id>/<category_id>",
    summary="Read a placement's seats",
    description="Sponsored placements are limited per (location, category): 5 seats unless the plan "
    "sold sets `placement_capacity` in its features. `taken` counts active sponsorships and "
    "checkouts in progress (their reservations last until the session expires). Track a "
    "sponsorship's clicks and impressions with `sponsorship_id` (its reservation id) on "
    "POST /v1/track/click and /v1/track/view. Any signed-in user.",
    tags=["Placements"],
    security=BEARER,
    responses=responses(
        200,
        "The placement's seats",
        (*PRIVATE, 404, 422),
        {404: "A location or category with characters no id holds: no route matches it"},
    ),
)
def get_placement(location_id: PlacementPart, category_id: PlacementPart) -> PlacementOut:
    policy().signed_in(principal())
    seen = seats().availability(location_id, category_id, at=clock.now())
    return PlacementOut(
        location_id=seen.location_id,
        category_id=seen.category_id,
        capacity=seen.capacity,
        taken=seen.taken,
        free=seen.free,
        reserved=seen.reserved,
        next_free_at=seen.next_free_at,
    )
