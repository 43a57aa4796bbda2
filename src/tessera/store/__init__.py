"""Durable state behind a small interface (see ``base``), SQLite and PostgreSQL."""
