"""Safe writes: every Airtable write made through the platform is an action that can be
previewed, approved, run, listed, audited and reverted."""
