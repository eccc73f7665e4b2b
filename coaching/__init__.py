"""The AI engine: knowledge, personality, reply generation and the responder."""
