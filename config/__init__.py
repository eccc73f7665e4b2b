"""Configuration: settings read from the environment and a `.env` file."""

from config.settings import LLMMode, Settings, SettingsError, load_settings

__all__ = ["LLMMode", "Settings", "SettingsError", "load_settings"]
