"""The take-checks widget, clicked: badges with the reasons on hover, the failed-lines filter, "Retake failed
lines", the selected line's checks. The reports are real: timing checks (silero-vad) of espeak-ng takes."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.widgets.take_checks_view import COL_SCORE, COL_VERDICT, TakeChecksView

pytest.importorskip("silero_vad")

TEXT = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def reports():
    from engine.checks import TakeChecker
    from engine.checks.calibrate import at_16k

    checker = TakeChecker(groups=("timing",))
    good = at_16k(TEXT, "en-us")
    half = good.size // 2
    paused = np.concatenate([good[:half], np.zeros(3 * 16000, np.float32), good[half:]])  # 3 s pause inside
    return checker.check(good, 16000, TEXT, language="en"), checker.check(paused, 16000, TEXT, language="en")


def test_badges_filter_and_retake(qtbot, reports):
    good, bad = reports
    assert good.verdict == "pass" and bad.verdict == "fail"
    view = TakeChecksView()
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    view.set_lines([(TEXT, good), (TEXT, bad), ("Not made yet.", None)])
    rows = [view.tree.topLevelItem(i) for i in range(3)]
    assert [r.text(COL_VERDICT) for r in rows] == ["✓ pass", "✗ fail", "… not checked yet"]
    assert rows[1].toolTip(COL_VERDICT).startswith("[fail] longest_pause")  # the reason first, on hover
    assert rows[0].text(COL_SCORE) == str(good.score)
    assert view.status.text() == "1 of 3 lines failed" and view.retake.isEnabled()

    qtbot.mouseClick(view.only_failed, Qt.MouseButton.LeftButton)
    assert [r.isHidden() for r in rows] == [True, False, True]

    with qtbot.waitSignal(view.retakeRequested) as asked:
        qtbot.mouseClick(view.retake, Qt.MouseButton.LeftButton)
    assert asked.args == [[1]]

    view.set_report(1, good)  # the retake passed
    assert not view.retake.isEnabled() and view.status.text() == "0 of 3 lines failed"
    assert all(view.tree.topLevelItem(i).isHidden() for i in range(3))  # the filter still only shows failures


def test_selecting_a_line_shows_its_checks(qtbot, reports):
    good, bad = reports
    view = TakeChecksView()
    qtbot.addWidget(view)
    view.resize(700, 420)
    view.show()
    qtbot.waitExposed(view)
    view.set_lines([(TEXT, good), (TEXT, bad)])
    row = view.tree.topLevelItem(1)
    view.tree.scrollToItem(row)
    rect = view.tree.visualItemRect(row)
    assert view.tree.viewport().rect().contains(rect.center())
    with qtbot.waitSignal(view.lineSelected) as picked:
        qtbot.mouseClick(view.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert picked.args == [1]
    shown = {view.details.topLevelItem(i).text(0): view.details.topLevelItem(i) for i in
             range(view.details.topLevelItemCount())}
    assert set(shown) == {c.name for c in bad.checks}
    pause = shown["longest_pause"]
    assert pause.text(1) == "✗ fail" and pause.text(3) == "2 s" and float(pause.text(2).split()[0]) > 2.9
