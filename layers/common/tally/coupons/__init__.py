"""Coupons stored: the coupons, their redemption counters and redemptions in the billing table,
and the service the coupon routes and the subscription start share (docs/billing.md "Coupons")."""
