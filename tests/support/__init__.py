"""Helpers the tests share: real photo files, hostile files, the storage emulators, a headless browser."""
