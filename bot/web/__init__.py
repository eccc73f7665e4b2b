"""The web chat page: a public end-user channel, one user per browser (a signed session cookie)."""
