"""The channel contract: one suite every channel that reaches people passes, built in or new."""
