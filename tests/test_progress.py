"""Progress bars draw on a terminal only; disabled bars still iterate and count."""
import io
import sys

from lrdgraph.progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(monkeypatch, stream, enabled=True):
    monkeypatch.setattr(sys, "stderr", stream)
    items = list(progress_bar(range(5), total=5, desc="work", enabled=enabled))
    bar = progress_bar(total=7, desc="manual", enabled=enabled)
    bar.update(3)
    bar.update(4)
    n = bar.n
    bar.close()
    return items, n, stream.getvalue()


def test_bar_on_a_terminal(monkeypatch):
    items, n, text = _run(monkeypatch, _Terminal())
    assert items == [0, 1, 2, 3, 4] and n == 7
    assert "work" in text and "5/5" in text and "manual" in text and "7/7" in text


def test_no_bar_in_a_log_file_or_when_disabled(monkeypatch):
    for stream, enabled in ((io.StringIO(), True), (_Terminal(), False)):
        items, n, text = _run(monkeypatch, stream, enabled)
        assert items == [0, 1, 2, 3, 4] and text == ""
