"""The workflow language: definitions, expressions, the library on disk and its stored versions."""
