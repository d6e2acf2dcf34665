"""The fast path's COPY text lines read back as values, by psycopg's text loaders of the staging types
(what PostgreSQL's input functions make of the same text), for tests that compare them with the row
parser's values."""

from __future__ import annotations

import psycopg
from psycopg.adapt import Transformer
from psycopg.pq import Format

from grassroots.loading.columnar import NULL, Block, FastPath


def block_rows(fast: FastPath, block: Block) -> list[tuple]:
    """A block's staging rows in `fast.copy_columns` order (None for COPY's null)."""
    types = fast.contract.copy_types()
    transformer = Transformer()
    transformer.set_loader_types([psycopg.adapters.types.get_oid(types[c]) for c in fast.copy_columns], Format.TEXT)
    lines = block.copy_text.decode("utf-8").split("\n")
    assert lines.pop() == "", "every line ends in a line end"
    rows = []
    for line in lines:
        cells = [None if cell == NULL else cell.encode("utf-8") for cell in line.split("\t")]
        assert len(cells) == len(fast.copy_columns), line
        rows.append(tuple(transformer.load_sequence(cells)))
    assert len(rows) == block.rows
    return rows
