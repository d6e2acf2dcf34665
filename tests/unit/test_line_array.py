"""The fast path's Arrow lines are the row parser's lines."""

from grassroots.fastpath import line_array
from grassroots.readers import text_lines


def test_arrow_lines_equal_python_lines_for_every_line_end() -> None:
    text = "a,b\n\n王芳,䶮\r\nx\r\r\n\r\n\ry,z\n,\n"
    assert line_array(text).to_pylist() == text_lines(text)[0]
    assert line_array("plain\n").to_pylist() == ["plain"]
