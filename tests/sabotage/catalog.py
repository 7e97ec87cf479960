"""Every stage test's sabotage, from the per-stage tables; and which scenes each stage has."""

from __future__ import annotations

from tests.sabotage import stage1, stage2, stage3, stage4, stage5, stage6, stage7, table
from tests.sabotage.harness import Sabotage

# stage number -> {stage test id: its sabotage}
BY_STAGE: dict[int, dict[str, Sabotage]] = {0: table.TABLE, 1: stage1.TABLE, 2: stage2.TABLE, 3: stage3.TABLE,
                                            4: stage4.TABLE, 5: stage5.TABLE, 6: stage6.TABLE, 7: stage7.TABLE}
TABLE: dict[str, Sabotage] = {test: s for tables in BY_STAGE.values() for test, s in tables.items()}


def scenes(stage: int) -> dict[str, dict[str, Sabotage]]:
    """scene name -> the sabotages it carries, for one stage."""
    out: dict[str, dict[str, Sabotage]] = {}
    for test, sabotage in BY_STAGE[stage].items():
        out.setdefault(sabotage.scene.__name__, {})[test] = sabotage
    return out
