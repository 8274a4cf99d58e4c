"""Progress bars draw on a terminal only; disabled bars still iterate and count."""
import io
import sys

from lrdgraph.progress import progress_bar


def _run(stream, enabled=True):
    items = list(progress_bar(range(5), total=5, desc="work", enabled=enabled))
    bar = progress_bar(total=7, desc="manual", enabled=enabled)
    bar.update(3)
    bar.update(4)
    n = bar.n
    bar.close()
    return items, n, stream.getvalue()


def test_bar_on_a_terminal(tty_stderr):
    items, n, text = _run(tty_stderr())
    assert items == [0, 1, 2, 3, 4] and n == 7
    assert "work" in text and "5/5" in text and "manual" in text and "7/7" in text


def test_no_bar_in_a_log_file_or_when_disabled(tty_stderr, monkeypatch):
    items, n, text = _run(tty_stderr(), enabled=False)
    assert items == [0, 1, 2, 3, 4] and text == ""
    log_file = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log_file)
    items, n, text = _run(log_file)
    assert items == [0, 1, 2, 3, 4] and text == ""
