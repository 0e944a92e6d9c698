"""Tests of the emulator's compatibility layer (emulator/compat/) that start no emulator."""
