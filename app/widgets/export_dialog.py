"""The export dialog: file type, mastering preset, structure and subtitles for a narration, then the report.

Give it the narration as an export Timeline, or a function that builds one (the project's chosen takes: decoding
them takes a while for a long project, so it runs on the dialog's thread, not the GUI's). The export runs
:func:`engine.export.export_timeline` on that thread too (Cancel sets the export's CancelToken, which leaves no file
behind) and each file's loudness report is shown when done. Every choice maps onto one field of the engine's
ExportSettings (:meth:`ExportDialog.settings`), so the dialog adds no rules of its own: a combination the engine
refuses is shown as the engine's sentence, and the format always follows the file's type. Files that exist are
replaced only after the user says so.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
    QMessageBox, QPlainTextEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

from engine import Cancelled, CancelToken, TimbreError

from .. import engine_bridge as bridge

SAMPLE_RATES = (24000, 44100, 48000)
SPLITS = (("One file", "none"), ("One file per chapter", "chapter"), ("One file per line", "line"))
SUBTITLES = (("No subtitles", None), ("SRT (.srt)", ".srt"), ("WebVTT (.vtt)", ".vtt"))
REPLACE = "Replace"


class _ExportWorker(QObject):
    """On the dialog's thread: build the timeline and list the files that would be replaced (``prepared``), then,
    when told to go on, export it."""

    prepared = Signal(list)  # the files that exist already
    progress = Signal(int, int)
    finished = Signal(object)  # ExportResult
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, source: Any, out: Path, settings: Any, token: CancelToken) -> None:
        super().__init__()
        self.source, self.out, self.settings, self.token = source, out, settings, token
        self.timeline: Any = None

    @Slot()
    def prepare(self) -> None:
        try:
            self.timeline = self.source() if callable(self.source) else self.source
            self.token.raise_if_cancelled("The export")
            existing = [p for p in bridge.export_paths(self.timeline, self.out, self.settings) if p.exists()]
        except Cancelled:
            self.cancelled.emit()
        except TimbreError as error:
            self.failed.emit(str(error))
        else:
            self.prepared.emit(existing)

    @Slot()
    def run(self) -> None:
        try:
            result = bridge.export_api().export_timeline(self.timeline, self.out, self.settings, cancel=self.token,
                                                         progress=self.progress.emit)
        except Cancelled:
            self.cancelled.emit()
        except TimbreError as error:
            self.failed.emit(str(error))
        else:
            self.finished.emit(result)


class ExportDialog(QDialog):
    """Export ``timeline`` to a file the user picks. Signals (GUI thread): ``progressed(done, total)`` after each
    file, ``exported(ExportResult)`` when all are written."""

    exported = Signal(object)
    progressed = Signal(int, int)
    _go = Signal()

    def __init__(self, timeline: Any | Callable[[], Any], path: str | Path = "narration.wav",
                 settings: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")  # the project's chosen takes, or any timeline it is given
        self.setMinimumWidth(560)
        self.timeline = timeline
        self.result: Any = None
        self._thread: QThread | None = None
        self._worker: _ExportWorker | None = None
        self._token: CancelToken | None = None
        self._build(Path(path))
        self._sync_formats()
        if settings is not None:
            self.show_settings(settings)

    # ---- building ---------------------------------------------------------------------------
    def _build(self, path: Path) -> None:
        self.path_edit = QLineEdit(str(path))
        self.browse_button = QPushButton("Choose…")
        self.browse_button.clicked.connect(lambda: self._browse())
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        self.format_combo = QComboBox()
        self.rate_combo = QComboBox()
        api = bridge.export_api()
        for rate in SAMPLE_RATES:
            self.rate_combo.addItem(f"{rate / 1000:g} kHz" + (" (the voice's own)" if rate == 24000 else ""), rate)
        self.bitrate_spin = self._spin(QSpinBox(), 0, 320, 0, " kbps")  # 0 shows "default": the format's own
        self.channels_combo = QComboBox()
        self.channels_combo.addItem("Mono", 1)
        self.channels_combo.addItem("Stereo", 2)
        self.preset_combo = QComboBox()
        for preset in api.PRESETS.values():
            self.preset_combo.addItem(preset.label, preset.name)
        self.split_combo = self._combo(SPLITS)
        defaults = api.Pauses()
        self.pause_line = self._spin(QDoubleSpinBox(), 0, 10, defaults.line_s, " s")
        self.pause_paragraph = self._spin(QDoubleSpinBox(), 0, 10, defaults.paragraph_s, " s")
        self.pause_chapter = self._spin(QDoubleSpinBox(), 0, 30, defaults.chapter_s, " s")
        self.head_spin = self._spin(QDoubleSpinBox(), 0, 10, 0.0, " s")
        self.tail_spin = self._spin(QDoubleSpinBox(), 0, 10, 0.0, " s")
        self.subtitles_combo = self._combo(SUBTITLES)
        self.speakers_check = QCheckBox("Speaker names in the cues")
        self.title_edit, self.author_edit, self.narrator_edit = QLineEdit(), QLineEdit(), QLineEdit()
        self.cover_edit = QLineEdit()
        self.cover_edit.setPlaceholderText("JPEG or PNG (optional)")
        self.report_view = QPlainTextEdit()
        self.report_view.setReadOnly(True)
        self.report_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))  # rule columns line up
        self.report_view.setPlaceholderText("The loudness report of each file appears here.")
        self.status_label = QLabel("")
        self.export_button = QPushButton("Export")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        close = QPushButton("Close")
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button.clicked.connect(self.cancel_export)
        close.clicked.connect(self.reject)
        self.path_edit.editingFinished.connect(self._sync_formats)
        self.format_combo.activated.connect(self._format_chosen)
        self.preset_combo.currentIndexChanged.connect(self._preset_chosen)
        form = QFormLayout()
        for label, field in (("File", path_row), ("Format", self.format_combo), ("Sample rate", self.rate_combo),
                             ("Bitrate", self.bitrate_spin), ("Channels", self.channels_combo),
                             ("Mastering", self.preset_combo), ("Files", self.split_combo),
                             ("Pause after a line", self.pause_line),
                             ("Pause after a paragraph", self.pause_paragraph),
                             ("Pause after a chapter", self.pause_chapter), ("Silence at the start", self.head_spin),
                             ("Silence at the end", self.tail_spin), ("Subtitles", self.subtitles_combo),
                             ("", self.speakers_check), ("Title", self.title_edit), ("Author", self.author_edit),
                             ("Narrator", self.narrator_edit), ("Cover", self.cover_edit)):
            form.addRow(label, field)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        for b in (self.export_button, self.cancel_button, close):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.report_view, 1)
        layout.addLayout(buttons)

    @staticmethod
    def _spin(spin, low: float, high: float, value: float, suffix: str):
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setSuffix(suffix)
        if isinstance(spin, QDoubleSpinBox):
            spin.setSingleStep(0.05)
        else:
            spin.setSpecialValueText("default")
        return spin

    @staticmethod
    def _combo(items) -> QComboBox:
        combo = QComboBox()
        for text, data in items:
            combo.addItem(text, data)
        return combo

    # ---- keeping the choices consistent -------------------------------------------------------
    def _sync_formats(self) -> None:
        """The format list shows the variants the file name's type allows; the first is the default."""
        suffix = Path(self.path_edit.text().strip()).suffix.lower()
        current = self.format_combo.currentData()
        self.format_combo.clear()
        formats = bridge.export_api().FORMATS
        for spec in formats:
            if suffix in spec.suffixes:
                self.format_combo.addItem(spec.label, spec.name)
        if not self.format_combo.count():  # an unknown or missing type: offer every format, by its own suffix
            for spec in formats:
                self.format_combo.addItem(f"{spec.label} ({spec.suffixes[0]})", spec.name)
        index = self.format_combo.findData(current)
        self.format_combo.setCurrentIndex(max(0, index))

    def _format_chosen(self) -> None:
        """Picking a format whose type the name does not have renames the file: the type never lies."""
        spec = next(f for f in bridge.export_api().FORMATS if f.name == self.format_combo.currentData())
        path = Path(self.path_edit.text().strip() or "narration")
        if path.suffix.lower() not in spec.suffixes:
            self.path_edit.setText(str(path.with_suffix(spec.suffixes[0])))
            self._sync_formats()
            self.format_combo.setCurrentIndex(self.format_combo.findData(spec.name))

    def _preset_chosen(self) -> None:
        padding = bridge.export_api().PRESETS[self.preset_combo.currentData()].padding
        self.head_spin.setValue(padding.head_s)
        self.tail_spin.setValue(padding.tail_s)

    def _browse(self) -> QFileDialog:
        """A window-modal file dialog (never a nested event loop); the chosen name replaces the path."""
        filters = ";;".join(f"{spec.label} (*{' *'.join(spec.suffixes)})" for spec in bridge.export_api().FORMATS)
        dialog = QFileDialog(self, "Export to", str(self.out_path().parent), filters)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.selectFile(self.out_path().name)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self._chosen)
        dialog.open()
        return dialog

    def _chosen(self, name: str) -> None:
        if name:
            self.path_edit.setText(name)
            self._sync_formats()

    # ---- what the choices mean ---------------------------------------------------------------
    def out_path(self) -> Path:
        return Path(self.path_edit.text().strip())

    def settings(self) -> Any:
        """The engine's ExportSettings the choices on screen make."""
        api = bridge.export_api()
        out = self.out_path()
        subtitle_suffix = self.subtitles_combo.currentData()
        cover = self.cover_edit.text().strip()
        known = any(out.suffix.lower() in spec.suffixes for spec in api.FORMATS)
        return api.ExportSettings(
            # an unknown file type goes to the engine as it is, so its message names the type, not a format
            format=self.format_combo.currentData() if known else None, sample_rate=self.rate_combo.currentData(),
            bitrate_kbps=self.bitrate_spin.value() or None, channels=self.channels_combo.currentData(),
            split=self.split_combo.currentData(),
            pauses=api.Pauses(self.pause_line.value(), self.pause_paragraph.value(), self.pause_chapter.value()),
            padding=api.Padding(self.head_spin.value(), self.tail_spin.value()),
            master=self.preset_combo.currentData(),
            subtitles=out.with_suffix(subtitle_suffix) if subtitle_suffix else None,
            subtitle_speakers=self.speakers_check.isChecked(),
            metadata=api.Metadata(title=self.title_edit.text().strip() or None,
                                  author=self.author_edit.text().strip() or None,
                                  narrator=self.narrator_edit.text().strip() or None,
                                  cover=Path(cover) if cover else None))

    def show_settings(self, settings: Any) -> None:
        """Put saved settings (a project's last export) on screen; the file name keeps its own type."""
        def choose(combo: QComboBox, data: Any) -> None:
            index = combo.findData(data)
            if index >= 0:
                combo.setCurrentIndex(index)

        if settings.format is not None:
            spec = next((f for f in bridge.export_api().FORMATS if f.name == settings.format), None)
            if spec is not None and self.out_path().suffix.lower() not in spec.suffixes:
                self.path_edit.setText(str(self.out_path().with_suffix(spec.suffixes[0])))
            self._sync_formats()
            choose(self.format_combo, settings.format)
        choose(self.rate_combo, settings.sample_rate or 24000)
        self.bitrate_spin.setValue(settings.bitrate_kbps or 0)
        choose(self.channels_combo, settings.channels or 1)
        choose(self.preset_combo, settings.master)
        choose(self.split_combo, settings.split)
        for spin, value in ((self.pause_line, settings.pauses.line_s), (self.pause_paragraph, settings.pauses.paragraph_s),
                            (self.pause_chapter, settings.pauses.chapter_s)):
            spin.setValue(value)
        if settings.padding is not None:
            self.head_spin.setValue(settings.padding.head_s)
            self.tail_spin.setValue(settings.padding.tail_s)
        choose(self.subtitles_combo, settings.subtitles.suffix.lower() if settings.subtitles else None)
        self.speakers_check.setChecked(settings.subtitle_speakers)
        meta = settings.metadata
        for edit, value in ((self.title_edit, meta.title), (self.author_edit, meta.author),
                            (self.narrator_edit, meta.narrator), (self.cover_edit, meta.cover)):
            edit.setText(str(value) if value else edit.text())

    def saved_settings(self) -> Any:
        """The settings to keep with the project (its subtitles path follows the file name, so it is not kept)."""
        return replace(self.settings(), subtitles=None)

    # ---- running -----------------------------------------------------------------------------
    def start_export(self) -> None:
        try:
            settings = self.settings()
        except TimbreError as error:
            self._show_error(str(error))
            return
        self._token = CancelToken()
        worker = _ExportWorker(self.timeline, self.out_path(), settings, self._token)
        thread = QThread(self)
        worker.moveToThread(thread)
        thread.started.connect(worker.prepare)
        self._go.connect(worker.run)
        worker.prepared.connect(self._on_prepared)
        worker.progress.connect(self._on_progress)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._show_error)
        worker.cancelled.connect(self._on_cancelled)
        for signal in (worker.finished, worker.failed, worker.cancelled):
            signal.connect(thread.quit)
        thread.finished.connect(worker.deleteLater)
        self._thread, self._worker = thread, worker
        self._busy(True)
        self.status_label.setText("Preparing the takes…")
        thread.start()

    def _on_prepared(self, existing: list) -> None:
        if not existing:
            self._export_now()
            return
        names = "\n".join(str(p) for p in existing[:6]) + (f"\n… and {len(existing) - 6} more" if len(existing) > 6
                                                           else "")
        box = QMessageBox(QMessageBox.Icon.Question, "Replace the files?",
                          f"{len(existing)} of the files this export writes exist already.", parent=self)
        box.setInformativeText(f"{names}\n\nReplace them? They stay as they are until the new ones are complete.")
        box.addButton(REPLACE, QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.accepted.connect(self._export_now)
        box.rejected.connect(self._not_replaced)
        box.open()

    def _export_now(self) -> None:
        self.status_label.setText("Exporting…")
        self._go.emit()

    def _not_replaced(self) -> None:
        if self._token is not None:
            self._token.cancel()
        if self._thread is not None:
            self._thread.quit()
        self._join()
        self._busy(False)
        self.status_label.setText("Not exported: the files were left as they are.")

    def cancel_export(self) -> None:
        if self._token is not None:
            self._token.cancel()
            self.status_label.setText("Cancelling…")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def _busy(self, busy: bool) -> None:
        self.export_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _on_progress(self, done: int, total: int) -> None:
        self.status_label.setText(f"Exported {done} of {total} file{'s' if total != 1 else ''}…")
        self.progressed.emit(done, total)

    def _join(self) -> None:
        """The worker has sent its last signal: let its thread end now, so nothing outlives the dialog
        (a QThread destroyed while running aborts the process)."""
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()

    def _on_finished(self, result: Any) -> None:
        self._join()
        self.result = result
        self._busy(False)
        self.report_view.setPlainText(result.describe())
        self.status_label.setText(f"Exported {result.summary()}")
        self.exported.emit(result)

    def _on_cancelled(self) -> None:
        self._join()
        self._busy(False)
        self.status_label.setText("Cancelled: no file was written.")

    def _show_error(self, message: str) -> None:
        self._join()
        self._busy(False)
        self.status_label.setText("Not exported.")
        self.report_view.setPlainText(message)

    def done(self, code: int) -> None:
        """Closing while an export runs cancels it and waits for the worker (it stops within a block)."""
        if self.running:
            self.cancel_export()
            self._thread.quit()  # idle (waiting to be told to replace files) or ending its cancelled export
            self._thread.wait()
        super().done(code)
