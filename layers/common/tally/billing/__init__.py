"""The billing domain, pure: plans and their versions, billable metrics, periods, proration,
usage-based charges, the subscription state machine and quotas.

Nothing here touches DynamoDB, HTTP or the clock: every function takes the instant it reasons
about, so jobs and tests run "as of" any time. docs/billing.md describes the modules and rules.
"""
