"""Test support: servers, a chat driver that reads like a conversation, and fakes."""
