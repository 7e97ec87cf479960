"""Stage 2's sabotages: scenes applied to a lab on which stages 0..1 completed."""

from __future__ import annotations

from tests.sabotage.harness import STAGE_FILES, Sabotage

STAGE = STAGE_FILES.get(2, "")
TABLE: dict[str, Sabotage] = {}
