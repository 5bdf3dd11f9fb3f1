"""The dunning ladder (issue 10): reminders, overdue, suspension, for every open invoice."""
