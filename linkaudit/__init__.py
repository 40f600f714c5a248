"""linkaudit: audit the links of research catalogs (DOIs, code repositories, project pages)."""

from __future__ import annotations

__version__ = "0.1.0"
