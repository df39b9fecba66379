"""Crafted hostile inputs for the linear-in-the-input tests: see tools/fuzz/crafted.py."""

from __future__ import annotations

from tools.fuzz.crafted import MODULE_BASE, STACK_BASE, aliased_stack_dump, patch_zip

__all__ = ["MODULE_BASE", "STACK_BASE", "aliased_stack_dump", "patch_zip"]
