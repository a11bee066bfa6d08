"""The rules, written once and called by every door (pages, API, CLI, feeds)."""
